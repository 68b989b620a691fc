//! Closing an account on its closure date (billing.md "Account closure", security.md, the
//! privacy note): sign-ins deleted, invoices kept under the retention key outside the account,
//! every other record deleted in batches, and last the account with its wrapped data key
//! (crypto-shredding). Each step can be run again, so a closure stopped halfway finishes on
//! the next run.

use softbrik_domain::account::AccountStatus;
use softbrik_domain::subscription::{closure_due, retained_until};

use crate::error::Error;
use crate::ports::Ports;

/// How far a closure got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closing {
    /// Nothing of the account is left but its retained invoices.
    Done,
    /// Stopped after `max_batches` (an operator's or a test's limit): run it again.
    Continues,
}

/// Counts the batches a closure may still write.
struct Budget(Option<u32>);

impl Budget {
    /// Spends one batch; false once the limit is reached.
    fn spend(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                *n > 0
            }
        }
    }
}

/// Closes the account `account_id` on its closure date. `max_batches` stops it early
/// (`Closing::Continues`); running it again goes on where it stopped. An account that is not
/// closing, or whose closure date has not come, is refused: nothing is deleted.
pub async fn close_account(
    ports: &Ports<'_>,
    account_id: &str,
    max_batches: Option<u32>,
) -> Result<Closing, Error> {
    // Gone: a run before this one finished it.
    let Some(read) = ports.closure.closing(account_id).await? else {
        return Ok(Closing::Done);
    };
    let account = &read.value;
    let now = ports.table.now_for(account).await?;
    let today = account.local_date(now);
    if !closure_due(account, today) {
        return Err(Error::internal(format!(
            "account {account_id} is not due for closure ({:?}, {:?})",
            account.status, account.closure_date
        )));
    }
    if account.status == AccountStatus::Closing {
        let closed = softbrik_domain::events::account_closed(today);
        let events = crate::events::fresh(account, now, vec![closed]);
        ports.closure.mark_closed(&read, events).await?;
        tracing::info!("account closed: deleting its data");
    }
    // A reseller's client: its users are billed no more from its closure.
    ports.closure.leave_reseller(&read, now).await?;
    let mut budget = Budget(max_batches);
    // Sign-ins and address claims first, while the key that opens the addresses exists.
    let users = ports.closure.users(&read).await?;
    for user in &users {
        ports.directory.delete(user.value.email.as_str()).await?;
        ports.closure.forget_user(&read, user).await?;
        if !budget.spend() {
            return Ok(Closing::Continues);
        }
    }
    // Invoices and credit notes: kept, under the retention key, outside the account.
    let until = retained_until(today);
    for invoice in ports.closure.invoices(&read).await? {
        ports.closure.retain(&read, &invoice, until).await?;
        if !budget.spend() {
            return Ok(Closing::Continues);
        }
    }
    for batch in ports.closure.leftovers(&read).await? {
        ports.closure.delete(&batch).await?;
        if !budget.spend() {
            return Ok(Closing::Continues);
        }
    }
    ports.closure.shred(&read).await?;
    tracing::info!(
        users = users.len(),
        "account data deleted, data key shredded"
    );
    Ok(Closing::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_of_n_batches_stops_after_the_nth_and_none_never_stops() {
        let mut one = Budget(Some(1));
        assert!(!one.spend(), "stops after the first batch");
        let mut two = Budget(Some(2));
        assert!(two.spend());
        assert!(!two.spend());
        let mut unlimited = Budget(None);
        assert!((0..1000).all(|_| unlimited.spend()));
    }
}
