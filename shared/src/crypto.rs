//! Envelope encryption of company data (security.md "Encryption"): each account has its own
//! data key from KMS `GenerateDataKey` (encryption context `{"account_id": ...}`), stored only
//! wrapped; fields are sealed with AES-256-GCM with the account id, the item's key and the
//! attribute name bound as associated data, so a ciphertext copied to another account, another
//! item or another attribute fails to open. Unwrapped keys are zeroed when dropped, and a warm
//! function holds at most [`KEY_CACHE_CAPACITY`] of them, each for at most 5 minutes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::Error;

/// How long a warm function keeps an unwrapped key (security.md: at most 5 minutes).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(300);
/// Most unwrapped keys a warm function holds at once (security.md: a bounded cache); the
/// least recently used goes first.
pub const KEY_CACHE_CAPACITY: usize = 256;
/// `v2`: the item's key is bound too (`v1`, sealed before it was, does not open).
const SEALED_PREFIX: &str = "v2:";
const NONCE_LEN: usize = 12;

/// Whose key it is: the KMS encryption context it is wrapped under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyScope {
    /// An account's data key: `{"account_id": id}`.
    Account(String),
    /// The platform key that makes keyed hashes of email addresses for look-ups.
    EmailLookup,
    /// The platform key that keeps the invoices of closed accounts for legal retention.
    Retention,
    /// The platform key that seals security reports (they belong to no account).
    SecurityReports,
}

impl KeyScope {
    fn context(&self) -> (&'static str, String) {
        match self {
            KeyScope::Account(id) => ("account_id", id.clone()),
            KeyScope::EmailLookup => ("purpose", "email-lookup".to_string()),
            KeyScope::Retention => ("purpose", "invoice-retention".to_string()),
            KeyScope::SecurityReports => ("purpose", "security-reports".to_string()),
        }
    }
}

/// A data key as KMS returns it wrapped: safe to store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WrappedKey(String);

impl WrappedKey {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        WrappedKey(B64.encode(bytes))
    }

    fn bytes(&self) -> Result<Vec<u8>, Error> {
        B64.decode(&self.0)
            .map_err(|_| Error::internal("stored wrapped key is not base64"))
    }
}

pub use softbrik_app::ids::digest_hex;

/// A field sealed under an account's data key: `v2:` + base64(nonce || ciphertext || tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A value as stored, for tests of items that carry sealed fields.
    #[cfg(test)]
    pub(crate) fn from_stored(text: &str) -> Sealed {
        Sealed(text.to_string())
    }
}

/// Where a sealed value lives: its account, the key of its item (`pk`, `sk`) and its
/// attribute. All three are bound to the ciphertext.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub account_id: &'a str,
    pub item: (&'a str, &'a str),
    pub attribute: &'a str,
}

impl<'a> Field<'a> {
    pub fn new(account_id: &'a str, item: (&'a str, &'a str), attribute: &'a str) -> Self {
        Field {
            account_id,
            item,
            attribute,
        }
    }

    /// The associated data: each part, NUL-terminated (no part holds a NUL), so that no two
    /// fields share it.
    fn associated_data(&self) -> Vec<u8> {
        let parts = [self.account_id, self.item.0, self.item.1, self.attribute];
        let mut aad = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        for part in parts {
            aad.extend_from_slice(part.as_bytes());
            aad.push(0);
        }
        aad
    }
}

/// An unwrapped 256-bit key. Never logged, never stored, zeroed when dropped (the cipher's key
/// schedule too: aes's `zeroize` feature).
pub struct DataKey {
    cipher: Aes256Gcm,
    raw: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::internal("data key is not 256 bits"))?;
        let raw = zeroize::Zeroizing::new(raw);
        let cipher = Aes256Gcm::new_from_slice(raw.as_slice())
            .map_err(|_| Error::internal("data key is not 256 bits"))?;
        Ok(DataKey { cipher, raw })
    }

    /// Seals `plaintext` for `field`.
    pub fn seal(&self, field: Field<'_>, plaintext: &str) -> Sealed {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = field.associated_data();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: &aad,
        };
        // Encryption with a valid key and nonce cannot fail for inputs under 64 GiB.
        let ciphertext = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Sealed(format!("{SEALED_PREFIX}{}", B64.encode(out)))
    }

    /// Opens a sealed field; fails if it was sealed for another account, item or attribute.
    pub fn open(&self, field: Field<'_>, sealed: &Sealed) -> Result<String, Error> {
        let refused = || Error::internal(format!("sealed {} does not open", field.attribute));
        let body = sealed.0.strip_prefix(SEALED_PREFIX).ok_or_else(refused)?;
        let bytes = B64.decode(body).map_err(|_| refused())?;
        if bytes.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let aad = field.associated_data();
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| refused())?;
        String::from_utf8(plain).map_err(|_| refused())
    }

    /// Keyed hash (HMAC-SHA256, hex) used to look values up without storing them in clear.
    pub fn keyed_hash(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.raw.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(value.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Where data keys come from: KMS in every environment, a local fake in unit tests.
#[async_trait]
pub trait KeyRing: Send + Sync {
    /// A fresh data key for `scope`, and its wrapped form to store.
    async fn create(&self, scope: &KeyScope) -> Result<(Arc<DataKey>, WrappedKey), Error>;
    /// The key behind `wrapped`, from memory when this process unwrapped it less than
    /// [`KEY_CACHE_TTL`] ago.
    async fn unwrap(&self, scope: &KeyScope, wrapped: &WrappedKey) -> Result<Arc<DataKey>, Error>;
    /// The key of `scope` if this process unwrapped it less than [`KEY_CACHE_TTL`] ago,
    /// without reading its wrapped form again (a scope's key never changes).
    fn recall(&self, _scope: &KeyScope) -> Option<Arc<DataKey>> {
        None
    }
}

/// A scope's wrapped key, the key unwrapped, and when it was unwrapped.
type CachedKey = (WrappedKey, Arc<DataKey>, Instant);

/// Unwrapped keys by scope: at most [`KEY_CACHE_CAPACITY`] (least recently used out first),
/// none older than [`KEY_CACHE_TTL`]. A key leaving it is zeroed once no request holds it.
struct KeyCache {
    keys: lru::LruCache<KeyScope, CachedKey>,
}

impl KeyCache {
    fn new() -> Self {
        KeyCache {
            keys: lru::LruCache::new(
                std::num::NonZeroUsize::new(KEY_CACHE_CAPACITY)
                    .unwrap_or(std::num::NonZeroUsize::MIN),
            ),
        }
    }

    /// Drops every key unwrapped [`KEY_CACHE_TTL`] ago or more.
    fn expire(&mut self) {
        let old: Vec<KeyScope> = self
            .keys
            .iter()
            .filter(|(_, (_, _, at))| at.elapsed() >= KEY_CACHE_TTL)
            .map(|(scope, _)| scope.clone())
            .collect();
        for scope in old {
            self.keys.pop(&scope);
        }
    }

    /// The key of `scope`, if it is held (and, given `wrapped`, is that one's).
    fn get(&mut self, scope: &KeyScope, wrapped: Option<&WrappedKey>) -> Option<Arc<DataKey>> {
        self.expire();
        let (held, key, _) = self.keys.get(scope)?;
        wrapped.is_none_or(|w| w == held).then(|| key.clone())
    }

    fn put(&mut self, scope: &KeyScope, wrapped: &WrappedKey, key: Arc<DataKey>) {
        self.expire();
        self.keys
            .put(scope.clone(), (wrapped.clone(), key, Instant::now()));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// KMS envelope keys with a bounded 5-minute in-memory cache of unwrapped keys.
pub struct KmsKeyRing {
    kms: aws_sdk_kms::Client,
    key_id: String,
    cache: Mutex<KeyCache>,
}

impl KmsKeyRing {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        KmsKeyRing {
            kms,
            key_id: key_id.into(),
            cache: Mutex::new(KeyCache::new()),
        }
    }

    fn cached(&self, scope: &KeyScope, wrapped: &WrappedKey) -> Option<Arc<DataKey>> {
        self.cache.lock().ok()?.get(scope, Some(wrapped))
    }

    fn recalled(&self, scope: &KeyScope) -> Option<Arc<DataKey>> {
        self.cache.lock().ok()?.get(scope, None)
    }

    fn remember(&self, scope: &KeyScope, wrapped: &WrappedKey, key: Arc<DataKey>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(scope, wrapped, key);
        }
    }
}

#[async_trait]
impl KeyRing for KmsKeyRing {
    async fn create(&self, scope: &KeyScope) -> Result<(Arc<DataKey>, WrappedKey), Error> {
        let (name, value) = scope.context();
        let out = self
            .kms
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .encryption_context(name, value)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("kms GenerateDataKey: {e}")))?;
        let plain = out
            .plaintext()
            .ok_or_else(|| Error::internal("KMS returned no plaintext key"))?;
        let blob = out
            .ciphertext_blob()
            .ok_or_else(|| Error::internal("KMS returned no wrapped key"))?;
        let key = Arc::new(DataKey::from_bytes(plain.as_ref())?);
        let wrapped = WrappedKey::from_bytes(blob.as_ref());
        self.remember(scope, &wrapped, key.clone());
        Ok((key, wrapped))
    }

    async fn unwrap(&self, scope: &KeyScope, wrapped: &WrappedKey) -> Result<Arc<DataKey>, Error> {
        if let Some(key) = self.cached(scope, wrapped) {
            return Ok(key);
        }
        let (name, value) = scope.context();
        let out = self
            .kms
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.bytes()?))
            .encryption_context(name, value)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("kms Decrypt: {e}")))?;
        let plain = out
            .plaintext()
            .ok_or_else(|| Error::internal("KMS returned no plaintext key"))?;
        let key = Arc::new(DataKey::from_bytes(plain.as_ref())?);
        self.remember(scope, wrapped, key.clone());
        Ok(key)
    }

    fn recall(&self, scope: &KeyScope) -> Option<Arc<DataKey>> {
        self.recalled(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_bytes(&[7u8; 32]).unwrap()
    }

    const ITEM: (&str, &str) = ("ACCOUNT#acc_1", "ACCOUNT");

    fn at(account: &'static str, attribute: &'static str) -> Field<'static> {
        Field::new(account, ITEM, attribute)
    }

    #[test]
    fn a_sealed_field_opens_for_its_account_item_and_attribute() {
        let sealed = key().seal(at("acc_1", "company_name"), "Fromagerie Dupont");
        assert_eq!(
            key().open(at("acc_1", "company_name"), &sealed).unwrap(),
            "Fromagerie Dupont"
        );
        assert!(!sealed.0.contains("Dupont"));
    }

    #[test]
    fn a_ciphertext_copied_to_another_account_fails_to_open() {
        let sealed = key().seal(at("acc_1", "company_name"), "Fromagerie Dupont");
        assert!(key().open(at("acc_2", "company_name"), &sealed).is_err());
    }

    #[test]
    fn a_ciphertext_copied_to_another_attribute_fails_to_open() {
        let sealed = key().seal(at("acc_1", "company_name"), "Fromagerie Dupont");
        assert!(key().open(at("acc_1", "admin_email"), &sealed).is_err());
    }

    #[test]
    fn a_ciphertext_copied_to_another_item_of_the_same_account_fails_to_open() {
        // Bob's name pasted over Alice's (security.md): the same account, attribute and key
        let bob = ("ACCOUNT#acc_1", "USER#usr_bob");
        let alice = ("ACCOUNT#acc_1", "USER#usr_alice");
        let sealed = key().seal(Field::new("acc_1", bob, "user_name"), "Bob");
        assert_eq!(
            key()
                .open(Field::new("acc_1", bob, "user_name"), &sealed)
                .unwrap(),
            "Bob"
        );
        assert!(
            key()
                .open(Field::new("acc_1", alice, "user_name"), &sealed)
                .is_err()
        );
        // and the parts cannot be shifted into one another
        let shifted = Field::new("acc_1", ("ACCOUNT#acc_1", "USER#usr_bo"), "buser_name");
        assert!(key().open(shifted, &sealed).is_err());
    }

    #[test]
    fn a_value_sealed_before_items_were_bound_does_not_open() {
        let sealed = key().seal(at("acc_1", "name"), "Bob");
        let v1 = Sealed(sealed.0.replacen("v2:", "v1:", 1));
        assert!(key().open(at("acc_1", "name"), &v1).is_err());
    }

    #[test]
    fn another_key_cannot_open_it() {
        let sealed = key().seal(at("acc_1", "company_name"), "Fromagerie Dupont");
        let other = DataKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open(at("acc_1", "company_name"), &sealed).is_err());
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let a = key().seal(at("acc_1", "name"), "Bob");
        let b = key().seal(at("acc_1", "name"), "Bob");
        assert_ne!(a, b);
    }

    #[test]
    fn the_key_cache_holds_a_bounded_number_of_keys_and_drops_the_least_recent() {
        let mut cache = KeyCache::new();
        let wrapped = WrappedKey::from_bytes(b"w");
        let first = Arc::new(key());
        let watch = Arc::downgrade(&first);
        cache.put(&KeyScope::Account("acc_0".into()), &wrapped, first);
        for n in 1..=KEY_CACHE_CAPACITY {
            let scope = KeyScope::Account(format!("acc_{n}"));
            cache.put(&scope, &wrapped, Arc::new(key()));
        }
        assert_eq!(cache.len(), KEY_CACHE_CAPACITY);
        assert!(
            cache
                .get(&KeyScope::Account("acc_0".into()), None)
                .is_none()
        );
        // the key that left is dropped (and so zeroed) once nothing holds it
        assert!(watch.upgrade().is_none(), "an evicted key is still alive");
        let last = KeyScope::Account(format!("acc_{KEY_CACHE_CAPACITY}"));
        assert!(cache.get(&last, Some(&wrapped)).is_some());
        assert!(
            cache
                .get(&last, Some(&WrappedKey::from_bytes(b"other")))
                .is_none()
        );
    }

    #[test]
    fn keyed_hashes_are_stable_and_depend_on_the_key() {
        let other = DataKey::from_bytes(&[8u8; 32]).unwrap();
        assert_eq!(key().keyed_hash("a@b.fr"), key().keyed_hash("a@b.fr"));
        assert_ne!(key().keyed_hash("a@b.fr"), other.keyed_hash("a@b.fr"));
        assert_eq!(key().keyed_hash("a@b.fr").len(), 64);
    }

    mod with_kms {
        use super::*;
        use aws_sdk_kms::operation::decrypt::{DecryptError, DecryptOutput};
        use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyOutput;
        use aws_sdk_kms::types::error::KmsInternalException;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};

        fn wrapped() -> WrappedKey {
            WrappedKey::from_bytes(b"wrapped-by-kms")
        }

        #[tokio::test]
        async fn a_warm_function_unwraps_a_key_once_then_reuses_it() {
            let decrypt = mock!(aws_sdk_kms::Client::decrypt)
                .match_requests(|r| {
                    r.encryption_context()
                        .and_then(|c| c.get("account_id"))
                        .is_some_and(|id| id == "acc_1")
                })
                .then_output(|| {
                    DecryptOutput::builder()
                        .plaintext(Blob::new(vec![7u8; 32]))
                        .build()
                });
            let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&decrypt]);
            let ring = KmsKeyRing::new(kms, "key");
            let scope = KeyScope::Account("acc_1".into());
            let first = ring.unwrap(&scope, &wrapped()).await.unwrap();
            let again = ring.unwrap(&scope, &wrapped()).await.unwrap();
            assert_eq!(
                decrypt.num_calls(),
                1,
                "no KMS call for a key already in memory"
            );
            let sealed = first.seal(at("acc_1", "name"), "Bob");
            assert_eq!(again.open(at("acc_1", "name"), &sealed).unwrap(), "Bob");
        }

        #[tokio::test]
        async fn a_key_in_memory_is_recalled_by_its_account_alone() {
            // A warm instance opens an account without reading its wrapped key again (the
            // keys table) nor asking KMS; another account's key is not in memory.
            let decrypt = mock!(aws_sdk_kms::Client::decrypt).then_output(|| {
                DecryptOutput::builder()
                    .plaintext(Blob::new(vec![7u8; 32]))
                    .build()
            });
            let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&decrypt]);
            let ring = KmsKeyRing::new(kms, "key");
            let scope = KeyScope::Account("acc_1".into());
            assert!(ring.recall(&scope).is_none(), "nothing unwrapped yet");
            let key = ring.unwrap(&scope, &wrapped()).await.unwrap();
            let recalled = ring.recall(&scope).expect("the key just unwrapped");
            let sealed = key.seal(at("acc_1", "name"), "Bob");
            assert_eq!(recalled.open(at("acc_1", "name"), &sealed).unwrap(), "Bob");
            assert!(ring.recall(&KeyScope::Account("acc_2".into())).is_none());
            assert_eq!(decrypt.num_calls(), 1);
        }

        #[tokio::test]
        async fn a_new_key_is_asked_for_under_the_account_context_and_cached() {
            let generate = mock!(aws_sdk_kms::Client::generate_data_key)
                .match_requests(|r| {
                    r.encryption_context()
                        .and_then(|c| c.get("account_id"))
                        .is_some_and(|id| id == "acc_9")
                })
                .then_output(|| {
                    GenerateDataKeyOutput::builder()
                        .plaintext(Blob::new(vec![3u8; 32]))
                        .ciphertext_blob(Blob::new(b"blob".to_vec()))
                        .build()
                });
            let decrypt = mock!(aws_sdk_kms::Client::decrypt).then_output(|| {
                DecryptOutput::builder()
                    .plaintext(Blob::new(vec![0u8; 32]))
                    .build()
            });
            let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&generate, &decrypt]);
            let ring = KmsKeyRing::new(kms, "key");
            let scope = KeyScope::Account("acc_9".into());
            let (_, wrapped) = ring.create(&scope).await.unwrap();
            assert_eq!(wrapped, WrappedKey::from_bytes(b"blob"));
            ring.unwrap(&scope, &wrapped).await.unwrap();
            assert_eq!(
                decrypt.num_calls(),
                0,
                "the key just made is already in memory"
            );
        }

        #[tokio::test]
        async fn kms_failing_is_a_retryable_unavailable_error() {
            let decrypt = mock!(aws_sdk_kms::Client::decrypt).then_error(|| {
                DecryptError::KmsInternalException(
                    KmsInternalException::builder().message("boom").build(),
                )
            });
            let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&decrypt]);
            let ring = KmsKeyRing::new(kms, "key");
            let err = ring
                .unwrap(&KeyScope::Account("acc_1".into()), &wrapped())
                .await
                .unwrap_err();
            assert_eq!(err.status(), 503);
        }
    }
}
