//! What a function needs to do its job, built once per cold start (`App::from_env`): the
//! configuration, the store, the key ring, the payment partner, the mailer and the directory.
//! Nothing here calls the network at start-up; clients connect on first use.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::account::Account;
use crate::catalogue::{Brik, default_catalogue};
use crate::clock::{Clock, FrozenClock, SystemClock};
use crate::crypto::{DataKey, KeyRing, KeyScope, KmsKeyRing, WrappedKey};
use crate::directory::{CognitoDirectory, Directory};
use crate::error::Error;
use crate::mailer::{Mailer, SesMailer};
use crate::payments::{Payments, SandboxPayments};
use crate::pdf::Issuer;
use crate::store::{AccountItem, Store, account_pk};
use crate::stripe::{DEFAULT_API_BASE, StripePayments};
use crate::test_clock::TestClockItem;
use crate::values::{Country, EmailAddress};

/// Settings read from the environment the template gives every function.
#[derive(Debug, Clone)]
pub struct Config {
    pub stage: String,
    pub table: String,
    /// The table of the accounts' wrapped data keys (no backups: closing shreds for good).
    pub keys_table: String,
    pub kms_key_id: String,
    pub user_pool_id: String,
    pub mail_from: String,
    pub issuer_country: Country,
    /// Softbrik's company as printed on invoices.
    pub issuer: Issuer,
    pub payments: String,
    /// The SSM parameter (SecureString) holding Stripe's secret key; required for `stripe`.
    pub stripe_secret_parameter: Option<String>,
    /// Stripe's API, or an emulator's in tests.
    pub stripe_api_base: String,
    pub test_clocks: bool,
    /// The support desk's address: where customers write, and the sender of ticket mail.
    pub support_inbox: String,
    /// The vulnerability disclosure address: mail to it opens a security report.
    pub security_inbox: String,
    /// The support team's mailbox, alerted of breaches and P1 updates due.
    pub support_team_email: String,
    /// Also alerted when a P1 target of an Enterprise account is breached.
    pub success_manager_email: String,
    /// Raw inbound mail (`inbound/`) and ticket attachments (`attachments/<account>/`).
    pub mail_bucket: String,
    /// The event bus the Brik modules are told on (events.md); none: events stay in the outbox.
    pub event_bus: Option<String>,
    /// The Brik modules' role (its name): the only IAM caller of the entitlements route.
    pub brik_modules_role: Option<String>,
    /// What a reseller pays per active user per period (api.md "Resellers").
    pub reseller_user_price: crate::money::Money,
    /// Signup attempts allowed per client address, and per email domain, in an hour
    /// (`crate::rate_limit`).
    pub signups_per_address_per_hour: u32,
    pub signups_per_domain_per_hour: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| Error::internal(format!("{name} is not set")))
        };
        let issuer = var("SOFTBRIK_ISSUER_COUNTRY").unwrap_or_else(|_| "DK".into());
        let number = |name: &str, default: u32| match std::env::var(name) {
            Ok(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::internal(format!("{name} is not a positive number"))),
            Err(_) => Ok(default),
        };
        Ok(Config {
            stage: var("SOFTBRIK_STAGE").unwrap_or_else(|_| "dev".into()),
            table: var("SOFTBRIK_TABLE")?,
            keys_table: var("SOFTBRIK_KEYS_TABLE")?,
            kms_key_id: var("SOFTBRIK_KMS_KEY_ID")?,
            user_pool_id: var("SOFTBRIK_USER_POOL_ID")?,
            mail_from: var("SOFTBRIK_MAIL_FROM")?,
            issuer_country: Country::parse(&issuer)
                .map_err(|_| Error::internal("SOFTBRIK_ISSUER_COUNTRY is not a country"))?,
            issuer: Issuer {
                name: var("SOFTBRIK_ISSUER_NAME")?,
                address: var("SOFTBRIK_ISSUER_ADDRESS")?.replace(", ", "\n"),
                country: issuer.clone(),
                vat_number: var("SOFTBRIK_ISSUER_VAT_NUMBER")?,
            },
            payments: var("SOFTBRIK_PAYMENTS").unwrap_or_else(|_| "sandbox".into()),
            stripe_secret_parameter: var("SOFTBRIK_STRIPE_SECRET_PARAMETER").ok(),
            stripe_api_base: var("SOFTBRIK_STRIPE_API_BASE")
                .unwrap_or_else(|_| DEFAULT_API_BASE.into()),
            test_clocks: var("SOFTBRIK_TEST_CLOCKS").is_ok_and(|v| v == "true"),
            support_inbox: var("SOFTBRIK_SUPPORT_INBOX")
                .unwrap_or_else(|_| "support@softbrik.com".into()),
            security_inbox: var("SOFTBRIK_SECURITY_INBOX")
                .unwrap_or_else(|_| "security@softbrik.com".into()),
            support_team_email: var("SOFTBRIK_SUPPORT_TEAM_EMAIL")
                .unwrap_or_else(|_| "support-team@softbrik.com".into()),
            success_manager_email: var("SOFTBRIK_SUCCESS_MANAGER_EMAIL")
                .unwrap_or_else(|_| "success@softbrik.com".into()),
            mail_bucket: var("SOFTBRIK_MAIL_BUCKET").unwrap_or_default(),
            event_bus: var("SOFTBRIK_EVENT_BUS").ok().filter(|b| !b.is_empty()),
            brik_modules_role: var("SOFTBRIK_BRIK_MODULES_ROLE")
                .ok()
                .filter(|r| !r.is_empty()),
            reseller_user_price: crate::money::Money::parse(
                &var("SOFTBRIK_RESELLER_USER_PRICE").unwrap_or_else(|_| "5.00".into()),
            )
            .map_err(|_| Error::internal("SOFTBRIK_RESELLER_USER_PRICE is not an amount"))?,
            signups_per_address_per_hour: number(
                "SOFTBRIK_SIGNUPS_PER_ADDRESS_PER_HOUR",
                crate::rate_limit::SIGNUPS_PER_ADDRESS_PER_HOUR,
            )?,
            signups_per_domain_per_hour: number(
                "SOFTBRIK_SIGNUPS_PER_DOMAIN_PER_HOUR",
                crate::rate_limit::SIGNUPS_PER_DOMAIN_PER_HOUR,
            )?,
        })
    }
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub keys: Arc<dyn KeyRing>,
    pub payments: Arc<dyn Payments>,
    pub mailer: Arc<dyn Mailer>,
    /// Ticket mail, sent from the support desk's address so that replies come back to it.
    pub support_mailer: Arc<dyn Mailer>,
    pub directory: Arc<dyn Directory>,
    /// Where the support desk's alerts go (from the config).
    pub staff: softbrik_app::ports::StaffAddresses,
    /// Raw inbound mail and ticket attachments.
    pub s3: aws_sdk_s3::Client,
    /// The SDK's shared configuration (HTTPS client, timeouts, region, credentials), for a
    /// client only one function needs.
    pub aws: aws_config::SdkConfig,
    /// Real time: the time of live accounts, and for every account what is not billing time
    /// (leases, idempotency windows, cut-offs). The machine's clock in a function; a port, so
    /// that a test can set it (`FrozenClock`).
    pub system_clock: Arc<dyn Clock>,
    lookup_key: OnceCell<WrappedKey>,
    retention_key: OnceCell<WrappedKey>,
    security_key: OnceCell<WrappedKey>,
    /// Taken while an invoice number is given out: the invoices a billing run finalises at
    /// once take turns on the sequence here rather than colliding on it in DynamoDB. It keeps
    /// the last number this instance gave out, so that the next invoice of a run, moments
    /// later, need not read the sequence again (`invoicing::store_numbered`).
    pub(crate) numbering: tokio::sync::Mutex<Option<crate::invoicing::LastNumber>>,
    catalogue: Kept<Vec<Brik>>,
    pub(crate) packs: Kept<Vec<crate::packs::Pack>>,
    /// The wrapped keys of the accounts of a billing run's page, read together
    /// (`prefetch_account_keys`), each taken by the first `account_key` of its account.
    prefetched: std::sync::Mutex<HashMap<String, WrappedKey>>,
    /// The first charges recorded with the leases this instance took and not charged yet
    /// (`softbrik_app::ports::answers::FirstCharge`), with when: charging one needs no write
    /// to the book while its lease is surely still held.
    pub(crate) first_charges: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

/// How long an instance keeps the catalogues it read (Briks, packs). No route changes them, so
/// a billing run reads them once, not once per account; an operator's edit in the table is
/// seen within that time.
pub const CATALOGUE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// A value an instance keeps for [`CATALOGUE_CACHE_TTL`] after reading it.
pub(crate) struct Kept<T>(std::sync::Mutex<Option<(T, std::time::Instant)>>);

impl<T: Clone> Kept<T> {
    fn new() -> Self {
        Kept(std::sync::Mutex::new(None))
    }

    /// The kept value, or `read`'s, kept from now on.
    pub(crate) async fn get_or_read<F, Fut>(&self, read: F) -> Result<T, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        if let Ok(kept) = self.0.lock()
            && let Some((value, at)) = kept.as_ref()
            && at.elapsed() < CATALOGUE_CACHE_TTL
        {
            return Ok(value.clone());
        }
        let value = read().await?;
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some((value.clone(), std::time::Instant::now()));
        }
        Ok(value)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct LookupKeyItem {
    pk: String,
    sk: String,
    wrapped: WrappedKey,
}

#[derive(Debug, Serialize, Deserialize)]
struct CatalogueItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    brik: Brik,
}

const CONFIG_PK: &str = "CONFIG";
const LOOKUP_KEY_SK: &str = "EMAIL_LOOKUP_KEY";
const RETENTION_KEY_SK: &str = "RETENTION_KEY";
const SECURITY_KEY_SK: &str = "SECURITY_REPORTS_KEY";
const CATALOGUE_PK: &str = "CATALOGUE";

/// The S3 client; against an emulator (an endpoint override), path-style addressing, since
/// bucket host names do not resolve there.
fn s3_client(aws: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let emulated = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty());
    let config = aws_sdk_s3::config::Builder::from(aws)
        .force_path_style(emulated)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// How long an AWS call may take: a dependency that hangs fails the call (503 to the client,
/// nothing half-written) well within the function's timeout (template.yaml: 20 s for the
/// API's functions) instead of the function being killed half-way. One attempt may last
/// `SOFTBRIK_AWS_ATTEMPT_TIMEOUT_MS` (default 3,000), a call with its retries
/// `SOFTBRIK_AWS_CALL_TIMEOUT_MS` (default 10,000); connecting, 1 s.
fn aws_timeouts() -> aws_config::timeout::TimeoutConfig {
    let millis = |name: &str, default: u64| {
        let ms = std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default);
        std::time::Duration::from_millis(ms)
    };
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(1))
        .operation_attempt_timeout(millis("SOFTBRIK_AWS_ATTEMPT_TIMEOUT_MS", 3_000))
        .operation_timeout(millis("SOFTBRIK_AWS_CALL_TIMEOUT_MS", 10_000))
        .build()
}

/// The roots AWS's endpoints chain to (Amazon Trust Services), built in.
const AWS_ROOTS: &[u8] = include_bytes!("../certs/aws-roots.pem");

/// The SDK's HTTPS client, trusting the roots AWS's endpoints chain to and nothing else. The
/// default client reads the system's whole certificate store at init: on a machine with a
/// hashed certificate folder that was most of a function's cold start (docs/performance.md).
fn aws_http_client() -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, Error> {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS);
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(Error::internal)?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https())
}

impl App {
    pub async fn from_env() -> Result<Self, Error> {
        let config = Config::from_env()?;
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(aws_http_client()?)
            .timeout_config(aws_timeouts())
            .load()
            .await;
        let store = Store::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &config.table,
            &config.keys_table,
        );
        // Each request to the partner waits its turn: the billing runs' rate, shared by all.
        let gate = Arc::new(crate::payments::Gate::shared(
            store.clone(),
            crate::payments::Gate::rate_from_env(),
        ));
        let payments: Arc<dyn Payments> = match config.payments.as_str() {
            "sandbox" if config.stage != "prod" => Arc::new(
                SandboxPayments::new(store.clone(), crate::payments::SandboxLimits::from_env())
                    .paced(gate),
            ),
            "stripe" => {
                let parameter = config.stripe_secret_parameter.as_deref().ok_or_else(|| {
                    Error::internal("SOFTBRIK_STRIPE_SECRET_PARAMETER is not set")
                })?;
                Arc::new(
                    StripePayments::new(
                        aws_sdk_ssm::Client::new(&aws),
                        parameter,
                        &config.stripe_api_base,
                    )?
                    .paced(gate),
                )
            }
            other => {
                return Err(Error::internal(format!(
                    "payment provider '{other}' is not available in stage '{}'",
                    config.stage
                )));
            }
        };
        // A refusal for the partner's rate waited out (payments::Paced).
        let payments: Arc<dyn Payments> = Arc::new(crate::payments::Paced::new(payments));
        // One SES client for both senders (a client is a handle: its clones share it).
        let ses = aws_sdk_sesv2::Client::new(&aws);
        Ok(App {
            keys: Arc::new(KmsKeyRing::new(
                aws_sdk_kms::Client::new(&aws),
                &config.kms_key_id,
            )),
            mailer: Arc::new(SesMailer::new(ses.clone(), &config.mail_from)),
            support_mailer: Arc::new(SesMailer::new(ses, &config.support_inbox)),
            s3: s3_client(&aws),
            directory: Arc::new(CognitoDirectory::new(
                aws_sdk_cognitoidentityprovider::Client::new(&aws),
                &config.user_pool_id,
            )),
            payments,
            store,
            staff: softbrik_app::ports::StaffAddresses {
                team: config.support_team_email.clone(),
                success_manager: config.success_manager_email.clone(),
                security_inbox: config.security_inbox.clone(),
            },
            config,
            aws,
            system_clock: Arc::new(SystemClock),
            lookup_key: OnceCell::new(),
            retention_key: OnceCell::new(),
            security_key: OnceCell::new(),
            numbering: tokio::sync::Mutex::new(None),
            prefetched: std::sync::Mutex::new(HashMap::new()),
            first_charges: std::sync::Mutex::new(HashMap::new()),
            catalogue: Kept::new(),
            packs: Kept::new(),
        })
    }

    /// The platform key for keyed hashes, made on first use in a new environment.
    async fn lookup_key(&self) -> Result<Arc<DataKey>, Error> {
        self.platform_key(&self.lookup_key, KeyScope::EmailLookup, LOOKUP_KEY_SK)
            .await
    }

    /// The platform key invoices of closed accounts are kept under (`closure`).
    pub async fn retention_key(&self) -> Result<Arc<DataKey>, Error> {
        self.platform_key(&self.retention_key, KeyScope::Retention, RETENTION_KEY_SK)
            .await
    }

    /// The platform key security reports are sealed under: they come from anyone (the
    /// vulnerability disclosure address), so belong to no account (`tickets`).
    pub async fn security_key(&self) -> Result<Arc<DataKey>, Error> {
        self.platform_key(
            &self.security_key,
            KeyScope::SecurityReports,
            SECURITY_KEY_SK,
        )
        .await
    }

    /// A platform key stored wrapped at `CONFIG`/`sk`, made on first use in a new environment.
    async fn platform_key(
        &self,
        cell: &OnceCell<WrappedKey>,
        scope: KeyScope,
        sk: &str,
    ) -> Result<Arc<DataKey>, Error> {
        let wrapped = cell
            .get_or_try_init(|| async {
                if let Some(item) = self.store.get::<LookupKeyItem>(CONFIG_PK, sk).await? {
                    return Ok::<_, Error>(item.wrapped);
                }
                let (_, wrapped) = self.keys.create(&scope).await?;
                let item = LookupKeyItem {
                    pk: CONFIG_PK.into(),
                    sk: sk.into(),
                    wrapped,
                };
                if self.store.put_new(&item).await? {
                    return Ok(item.wrapped);
                }
                // Another function made it first: use theirs.
                self.store
                    .get::<LookupKeyItem>(CONFIG_PK, sk)
                    .await?
                    .map(|i| i.wrapped)
                    .ok_or_else(|| Error::internal(format!("platform key {sk} vanished")))
            })
            .await?;
        self.keys.unwrap(&scope, wrapped).await
    }

    /// Keyed hash of an address: how accounts are found by email without storing it in clear.
    pub async fn email_hash(&self, email: &EmailAddress) -> Result<String, Error> {
        Ok(self.lookup_key().await?.keyed_hash(email.as_str()))
    }

    /// Keyed hash of anything else that must be compared but not stored (request bodies).
    pub async fn keyed_hash(&self, value: &str) -> Result<String, Error> {
        Ok(self
            .lookup_key()
            .await?
            .keyed_hash(&format!("request:{value}")))
    }

    /// The clock an account lives on: its test clock if it has one, else the system's.
    pub async fn clock(&self, test_clock_id: Option<&str>) -> Result<Arc<dyn Clock>, Error> {
        let Some(id) = test_clock_id else {
            return Ok(self.system_clock.clone());
        };
        if !self.config.test_clocks {
            return Err(Error::validation(
                "test_clock_id",
                "test_clocks_disabled",
                "test clocks are disabled in this stage",
            ));
        }
        let clock = TestClockItem::load(&self.store, id).await?.ok_or_else(|| {
            Error::validation(
                "test_clock_id",
                "unknown_test_clock",
                "no test clock has this id",
            )
        })?;
        Ok(Arc::new(FrozenClock(clock.frozen_time)))
    }

    /// The account item and its unwrapped data key.
    pub async fn account_item(
        &self,
        account_id: &str,
    ) -> Result<(AccountItem, Arc<DataKey>), Error> {
        let item = self.sealed_account(account_id).await?;
        let key = self.account_key(&item).await?;
        Ok((item, key))
    }

    /// The account item as stored, nothing opened.
    pub async fn sealed_account(&self, account_id: &str) -> Result<AccountItem, Error> {
        self.store
            .get(&account_pk(account_id), "ACCOUNT")
            .await?
            .ok_or(Error::NotFound)
    }

    /// The unwrapped data key of an account item already read: from memory on a warm
    /// instance, else its wrapped form read from the keys table and unwrapped by KMS. A closed
    /// account's key is gone (shredded): nothing of it opens, 404.
    pub async fn account_key(&self, item: &AccountItem) -> Result<Arc<DataKey>, Error> {
        let scope = KeyScope::Account(item.id.clone());
        if let Some(key) = self.keys.recall(&scope) {
            return Ok(key);
        }
        let prefetched = self
            .prefetched
            .lock()
            .ok()
            .and_then(|mut keys| keys.remove(&item.id));
        let wrapped = match prefetched {
            Some(wrapped) => wrapped,
            None => self
                .store
                .account_key(&item.id)
                .await?
                .ok_or(Error::NotFound)?,
        };
        self.keys.unwrap(&scope, &wrapped).await
    }

    /// Reads the wrapped keys of `account_ids` not held unwrapped, in one request for a
    /// billing run's page instead of one per account; they replace the previous page's. A
    /// failure only logs: each account's key is then read on its own.
    pub async fn prefetch_account_keys(&self, account_ids: &[&str]) {
        let missing: Vec<&str> = account_ids
            .iter()
            .copied()
            .filter(|id| {
                self.keys
                    .recall(&KeyScope::Account(id.to_string()))
                    .is_none()
            })
            .collect();
        let found = match self.store.account_keys(&missing).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "account keys not read ahead");
                HashMap::new()
            }
        };
        if let Ok(mut keys) = self.prefetched.lock() {
            *keys = found;
        }
    }

    /// The account in clear, and "now" on its clock.
    pub async fn account(&self, account_id: &str) -> Result<(Account, Timestamp), Error> {
        let (item, key) = self.account_item(account_id).await?;
        let account = item.open(&key)?;
        let now = self.clock(account.test_clock_id.as_deref()).await?.now();
        Ok((account, now))
    }

    /// The Brik catalogue; the defaults of billing.md are seeded the first time it is read.
    /// Kept by the instance ([`CATALOGUE_CACHE_TTL`]).
    pub async fn catalogue(&self) -> Result<Vec<Brik>, Error> {
        self.catalogue.get_or_read(|| self.read_catalogue()).await
    }

    async fn read_catalogue(&self) -> Result<Vec<Brik>, Error> {
        let items: Vec<CatalogueItem> = self.store.query_prefix(CATALOGUE_PK, "BRIK#").await?;
        if !items.is_empty() {
            return Ok(items.into_iter().map(|i| i.brik).collect());
        }
        for brik in default_catalogue() {
            let item = CatalogueItem {
                pk: CATALOGUE_PK.into(),
                sk: format!("BRIK#{}", brik.id.as_str()),
                brik,
            };
            self.store.put_new(&item).await?;
        }
        let items: Vec<CatalogueItem> = self.store.query_prefix(CATALOGUE_PK, "BRIK#").await?;
        Ok(items.into_iter().map(|i| i.brik).collect())
    }
}

#[cfg(test)]
mod http_client_tests {
    #[test]
    fn the_built_in_roots_are_the_five_of_amazon_trust_services() {
        let pem = std::str::from_utf8(super::AWS_ROOTS).unwrap();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        for name in [
            "Amazon_Root_CA_1",
            "Amazon_Root_CA_2",
            "Amazon_Root_CA_3",
            "Amazon_Root_CA_4",
            "Starfield_Services_Root_Certificate_Authority_-_G2",
        ] {
            assert!(pem.contains(&format!("# {name}\n")), "{name}");
        }
        super::aws_http_client().expect("the client builds with them");
    }
}

#[cfg(test)]
mod kept_tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_kept_value_is_read_once_and_a_failed_read_keeps_nothing() {
        let kept: Kept<Vec<u32>> = Kept::new();
        let reads = AtomicU32::new(0);
        let failing = kept
            .get_or_read(|| async { Err(Error::unavailable("down")) })
            .await;
        assert!(failing.is_err());
        for _ in 0..3 {
            let value = kept
                .get_or_read(|| async {
                    reads.fetch_add(1, Ordering::SeqCst);
                    Ok(vec![7])
                })
                .await
                .unwrap();
            assert_eq!(value, vec![7]);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }
}
