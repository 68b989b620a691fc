//! Signing a company up (`POST /signup`): the account, its admin and the Briks the admin holds,
//! the first period charged at once, all or nothing.
//!
//! Order of the steps, chosen so that a failure at any step leaves nothing behind: checks
//! that write nothing (the rate limit, the address free, the card accepted) → the account's
//! data key → the admin's sign-in → the charge (its key derived from the invoice id) → one
//! transaction with every record ([`SignupTable::create`]) → the invoice email. A failure
//! after the sign-in or the charge undoes them (delete, refund), unless the write may still
//! have landed; a function stopped half-way is retried under the same `Idempotency-Key` with
//! the same ids, so the partner returns the first charge instead of making a second.
//!
//! [`SignupTable::create`]: crate::ports::signup::SignupTable::create

use std::collections::BTreeMap;

use softbrik_domain::account::{AccountView, HistoryEntry, Invoice, PaymentMethod};
use softbrik_domain::signup::{self as decide, SignupCommand};

use crate::billing::WriteFailure;
use crate::error::Error;
use crate::idempotency::{self, Lease};
use crate::ids::{new_id, new_ordered_id};
use crate::ports::Ports;
use crate::ports::directory::NewSignIn;
use crate::ports::signup::NewAccount;
use crate::ports::team::Answering;

/// What `POST /signup` answers. A reseller has nothing to pay at signup (it is billed at the
/// end of each period for its clients' users), so its answer has no invoice.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SignupResponse {
    pub account: AccountView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// Runs the signup `cmd` (`request`: the body as sent, the fingerprint of its
/// `Idempotency-Key`) from `client_address`, or replays the answer of the first one made with
/// the same key. 201 and the account, with its first invoice for a company.
pub async fn signup(
    ports: &Ports<'_>,
    request: &serde_json::Value,
    cmd: SignupCommand,
    key: Option<&str>,
    client_address: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let catalogue = ports.signups.catalogue().await?;
    let briks = decide::price_briks(&catalogue, &cmd.briks)
        .map_err(|unknown| Error::UnknownBrik(unknown.as_str().to_string()))?;
    let now = ports.signups.now_on(cmd.test_clock_id.as_deref()).await?;
    let reserve = || {
        BTreeMap::from([
            ("account".to_string(), new_id("acc")),
            ("user".to_string(), new_id("usr")),
            ("invoice".to_string(), new_ordered_id("inv", now)),
            ("history".to_string(), new_ordered_id("hst", now)),
        ])
    };
    let work = async |lease: &Lease| {
        ports
            .signups
            .admit(client_address, &cmd.admin_email, &lease.id("account"))
            .await?;
        Ok((201, run(ports, &cmd, &briks, now, lease).await?))
    };
    idempotency::once_in(ports, "signup", key, request.clone(), reserve, work).await
}

async fn run(
    ports: &Ports<'_>,
    cmd: &SignupCommand,
    briks: &[&softbrik_domain::catalogue::Brik],
    now: jiff::Timestamp,
    lease: &Lease,
) -> Result<serde_json::Value, Error> {
    if ports.table.address_taken(&cmd.admin_email).await? {
        return Err(Error::EmailTaken);
    }
    let account_id = lease.id("account");
    let card = ports
        .payments
        .attach(&cmd.payment_method, &account_id)
        .await?;
    let payment_method = PaymentMethod {
        token: cmd.payment_method.as_str().into(),
        card,
    };
    let account = decide::new_account(cmd, account_id, now, Some(payment_method));
    let admin = decide::new_admin(cmd, lease.id("user"), &account, briks);
    let mut invoice = decide::first_invoice(
        &account,
        briks,
        lease.id("invoice"),
        now,
        &ports.signups.issuer(),
    );
    let key = ports.signups.new_key(&account.id).await?;
    ports
        .directory
        .create_with_password(&NewSignIn {
            email: cmd.admin_email.as_str(),
            name: cmd.admin_name.as_str(),
            password: &cmd.password,
            account_id: &account.id,
            user_id: &admin.id,
            group: "admin",
        })
        .await?;
    if let Some(invoice) = invoice.as_mut()
        && let Err(e) = crate::billing::charge(ports, &account, invoice, now).await
    {
        forget_sign_in(ports, cmd).await;
        return Err(e);
    }
    let history = HistoryEntry {
        at: now,
        actor: format!("user:{}", admin.id),
        action: "signup".into(),
        details: serde_json::json!({
            "kind": account.kind,
            "briks": admin.briks.iter().map(|b| b.brik_id.as_str()).collect::<Vec<_>>(),
            "invoice_id": invoice.as_ref().map(|i| i.id.as_str()),
            "card_brand": account.payment_method.as_ref().map(|m| m.card.brand),
        }),
    };
    let body = |invoice: Option<&Invoice>| {
        serde_json::to_value(SignupResponse {
            account: account.view(now, true),
            invoice: invoice.cloned(),
        })
        .map_err(Error::internal)
    };
    let created = crate::events::account_created(&lease.id("history"), &account, &admin, now);
    let new = NewAccount {
        account: account.clone(),
        admin,
        invoice: invoice.clone(),
        history: (lease.id("history"), history),
        events: vec![created],
        at: now,
    };
    let answering = lease.held().map(|held| Answering {
        lease: held,
        status: 201,
        body: &body,
    });
    match ports.signups.create(&key, new, answering).await {
        Ok(committed) => {
            if let Some(invoice) = &committed.invoice {
                ports.invoices.email(&account, invoice).await;
            }
            match committed.answer {
                Some(answer) => Ok(answer),
                None => body(committed.invoice.as_ref()),
            }
        }
        // A write that may still land keeps its sign-in and charge: the retry (same ids, same
        // charge key) completes it, or finds it done.
        Err(e) if e.may_have_landed() => Err(e),
        Err(e) => {
            if let Some(invoice) = &invoice {
                crate::billing::refund(ports, invoice).await;
            }
            forget_sign_in(ports, cmd).await;
            Err(e)
        }
    }
}

/// Deletes the sign-in of a signup that did not happen.
async fn forget_sign_in(ports: &Ports<'_>, cmd: &SignupCommand) {
    if let Err(e) = ports.directory.delete(cmd.admin_email.as_str()).await {
        tracing::error!(error = %e, "sign-in of a failed signup not deleted");
    }
}
