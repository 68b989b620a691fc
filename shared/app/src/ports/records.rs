//! What an account's billing records are read as (its invoices with the customer block they
//! were issued to, its history), a page at a time; and the invoices whose email failed, left
//! for the settlement run to send again.

use async_trait::async_trait;
use softbrik_domain::account::{Account, HistoryEntry, Invoice, InvoiceCustomer};

use crate::error::Error;
use crate::pdf::Issuer;
use crate::ports::team::Stamp;

/// A page of a list, newest first, and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[async_trait]
pub trait RecordsTable: Send + Sync {
    /// The account's invoices and credit notes, `limit` from after `next`.
    async fn invoices(
        &self,
        account_id: &str,
        limit: i32,
        next: Option<&str>,
    ) -> Result<Page<Invoice>, Error>;

    /// An invoice of the account with the customer block it was issued to, and the account;
    /// `NotFound` for another account's or none.
    async fn issued(
        &self,
        account_id: &str,
        invoice_id: &str,
    ) -> Result<(Invoice, InvoiceCustomer, Account), Error>;

    /// The account's history, `limit` entries from after `next`.
    async fn history(
        &self,
        account_id: &str,
        limit: i32,
        next: Option<&str>,
    ) -> Result<Page<HistoryEntry>, Error>;

    /// Who issues the invoices.
    fn issuer(&self) -> Issuer;

    /// Leaves the invoice's email for the settlement run to send again.
    async fn leave_for_retry(&self, account_id: &str, invoice_id: &str) -> Result<(), Error>;

    /// The invoices whose email waits to be sent again: (account, invoice, the adapter's own).
    async fn retries(&self) -> Result<Vec<(String, String, Stamp)>, Error>;

    /// The retry done (sent, or its invoice gone).
    async fn retried(&self, retry: &Stamp) -> Result<(), Error>;

    /// An owed invoice email sent: its record goes (none: nothing to do).
    async fn mailed(&self, account_id: &str, invoice_id: &str) -> Result<(), Error>;
}
