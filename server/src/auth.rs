//! Credentials: Argon2id password hashes, HS256 bearer tokens and password reset tokens (the
//! rules for usernames and passwords are `accounts`').
//!
//! Hashing is deliberately slow, so it runs on the blocking pool instead of stalling the async
//! workers. A login for an unknown user still verifies against a fixed hash, so the response time
//! does not reveal which usernames exist.
//!
//! Each hash holds `memory_kib` of memory and a core while it runs, so only a few run at once
//! (one per core by default, `server.max_concurrent_hashes`): every hash and verification
//! (registration, login, password change, reset, accounts made by an administrator, the
//! bootstrap admin) takes a turn from one semaphore before it reaches the blocking pool. A
//! request that cannot get a turn within `server.hash_wait` is answered 503 with `Retry-After`
//! instead of queueing without bound: a burst of registrations once took a server from 144 MB to
//! 5.8 GB, one 19 MiB hash per blocking thread.
//!
//! Password reset tokens are random, so unlike passwords they need no slow hash: the database
//! keeps only their SHA-256, which is useless to whoever reads it, and looks them up by it.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::password_hash::{
    Error as PhcError, Output, ParamsString, PasswordHash, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{DEFAULT_MAX_SESSION, PasswordCost};
use crate::db::Id;
use crate::error::ApiError;

impl PasswordCost {
    /// Argon2's parameters, or why these are not valid ones.
    pub fn params(self) -> Result<Params, String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| format!("invalid password_hash cost {self:?}: {e}"))
    }
}

/// Why a stored password hash is not one this server verifies: not a PHC string, not Argon2,
/// or a cost above [`PasswordCost::CEILING`]; `None` when it is one.
pub fn stored_hash_problem(hash: &str) -> Option<String> {
    let parsed = match PasswordHash::new(hash) {
        Ok(parsed) => parsed,
        Err(e) => return Some(format!("not a PHC password hash string ({e})")),
    };
    if let Err(e) = Algorithm::try_from(parsed.algorithm) {
        return Some(format!("not an Argon2 hash ({e})"));
    }
    let params = match Params::try_from(&parsed) {
        Ok(params) => params,
        Err(e) => return Some(format!("its Argon2 parameters are invalid ({e})")),
    };
    let cost = PasswordCost {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        parallelism: params.p_cost(),
    };
    (!cost.within_ceiling()).then(|| {
        format!(
            "its cost {cost:?} is above the most the server verifies, {:?}",
            PasswordCost::CEILING
        )
    })
}

/// Seconds a client is told to wait (`Retry-After`) when every hashing turn is taken.
pub const HASH_BUSY_RETRY_SECS: u64 = 1;

/// Hashes and verifies passwords at the configured cost, a bounded number at once.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A hash of a password nobody has, at the same cost, verified against when the user does
    /// not exist; made on first use.
    dummy: Arc<OnceLock<String>>,
    /// One permit per hash allowed to run at once.
    turns: Arc<Semaphore>,
    /// Argon2's working memory, one buffer per turn, reused from hash to hash.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// How long a hash waits for a turn.
    wait: Duration,
}

impl Passwords {
    /// At the given cost, one hash per core at once, waiting up to the default
    /// `server.hash_wait` for a turn.
    pub fn new(cost: PasswordCost) -> Result<Passwords, String> {
        let defaults = crate::config::ServerLimits::default();
        Passwords::bounded(cost, defaults.max_concurrent_hashes, defaults.hash_wait)
    }

    /// At most `at_once` hashes and verifications run at the same time; one that has waited
    /// `wait` for its turn gives up with 503.
    pub fn bounded(
        cost: PasswordCost,
        at_once: usize,
        wait: Duration,
    ) -> Result<Passwords, String> {
        Ok(Passwords {
            params: cost.params()?,
            dummy: Arc::default(),
            turns: Arc::new(Semaphore::new(at_once.max(1))),
            memory: Arc::default(),
            wait,
        })
    }

    /// A turn to hash, or 503 `server_busy` with `Retry-After` when none frees up in time.
    async fn turn(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        let busy = || {
            tracing::warn!(
                wait_ms = self.wait.as_millis() as u64,
                "every password hashing turn is taken; answering 503"
            );
            ApiError::busy(
                "the server is busy checking other passwords; try again shortly",
                HASH_BUSY_RETRY_SECS,
            )
        };
        if let Ok(permit) = self.turns.clone().try_acquire_owned() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }

    /// Runs one hashing job on the blocking pool while holding a turn, with the turn's Argon2
    /// memory. Buffers are taken and put back under the turn, so there are never more of them
    /// than turns: memory stays at `max_concurrent_hashes × memory_kib` however many threads
    /// the blocking pool has used (freeing and allocating 19 MiB per hash on whichever thread
    /// ran it once kept up to a hash's worth per malloc arena: 652 MB after 150 registrations).
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.turn().await?;
        let memory = self.memory.clone();
        let own_blocks = self.params.block_count();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = memory.lock().map(|mut free| free.pop());
            let mut blocks = taken.ok().flatten().unwrap_or_default();
            let done = job(&mut blocks);
            // A stored hash of a higher cost than the server's (an earlier setting, a restored
            // backup) grew the buffer for its verification: that memory is not kept.
            if blocks.len() <= own_blocks
                && let Ok(mut free) = memory.lock()
            {
                free.push(blocks);
            }
            done
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing task failed");
            ApiError::internal()
        })
    }

    /// Hashes a password (Argon2id, random salt) into a PHC string; 503 when every hashing
    /// turn stays taken.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.to_owned();
        let params = self.params.clone();
        self.run(move |memory| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let (algorithm, version) = ARGON2;
            hash_in(
                (algorithm, version, &params),
                password.as_bytes(),
                salt.as_salt(),
                memory,
            )
            .map(|h| h.to_string())
        })
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::internal()
        })
    }

    /// Checks a password against a stored hash (or against a dummy when there is no user),
    /// taking the same time either way. The comparison inside Argon2 is constant-time. 503 when
    /// every hashing turn stays taken: the password was neither accepted nor refused.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        let this = self.clone();
        self.run(move |memory| {
            let dummy = this.dummy_hash(memory);
            verify_with(&password, hash.as_deref(), dummy, |password, parsed| {
                verify_in(password, parsed, memory)
            })
        })
        .await
    }

    fn dummy_hash(&self, memory: &mut Vec<Block>) -> &str {
        self.dummy.get_or_init(|| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            hash_in(
                (ARGON2.0, ARGON2.1, &self.params),
                b"no user has this password",
                salt.as_salt(),
                memory,
            )
            .expect("hashing a constant succeeds")
            .to_string()
        })
    }
}

/// The algorithm and version of every hash this server makes.
const ARGON2: (Algorithm, Version) = (Algorithm::Argon2id, Version::V0x13);

/// What `argon2.hash_password` does, in `memory` (grown to the parameters' size and left there
/// for the next hash) instead of a fresh allocation.
fn hash_in<'a>(
    (algorithm, version, params): (Algorithm, Version, &Params),
    password: &[u8],
    salt: Salt<'a>,
    memory: &mut Vec<Block>,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let output = Output::init_with(
        params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
        |out| {
            argon2
                .hash_password_into_with_memory(
                    password,
                    salt_bytes,
                    out,
                    &mut memory[..params.block_count()],
                )
                .map_err(Into::into)
        },
    )?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// What `verify_password` does, with the algorithm, version and parameters the stored hash
/// names, in `memory`; the outputs are compared in constant time ([`Output`]'s equality).
fn verify_in(password: &[u8], stored: &PasswordHash<'_>, memory: &mut Vec<Block>) -> bool {
    let computed = (|| {
        let algorithm = Algorithm::try_from(stored.algorithm)?;
        let version = stored.version.map(Version::try_from).transpose()?;
        let params = Params::try_from(stored)?;
        let salt = stored.salt.ok_or(PhcError::Password)?;
        hash_in(
            (algorithm, version.unwrap_or_default(), &params),
            password,
            salt,
            memory,
        )
    })();
    match (computed, &stored.hash) {
        (Ok(computed), Some(expected)) => computed.hash.as_ref() == Some(expected),
        _ => false,
    }
}

/// The shape of every verification: with no stored hash the same `check` still runs, against
/// `dummy`, and its answer is ignored. Split from the hashing so that a test can see that the
/// unknown-user path does the work without timing it.
fn verify_with(
    password: &str,
    stored: Option<&str>,
    dummy: &str,
    check: impl FnOnce(&[u8], &PasswordHash<'_>) -> bool,
) -> bool {
    let hash = stored.unwrap_or(dummy);
    // Checked before any memory is taken for it: a cost beyond the ceiling is refused, not run.
    if let Some(problem) = stored_hash_problem(hash) {
        tracing::error!("stored password hash refused: {problem}");
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    check(password.as_bytes(), &parsed) && stored.is_some()
}

/// Random bytes in a password reset token: 256 bits, beyond any guessing.
const RESET_TOKEN_BYTES: usize = 32;

/// A new password reset token: random bytes from the operating system, hex-encoded (URL-safe).
pub fn new_reset_token() -> String {
    let mut bytes = [0u8; RESET_TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// The SHA-256 of a reset token, hex-encoded: the only form the database ever holds.
pub fn reset_token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a bearer token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Id,
    pub iat: i64,
    pub exp: i64,
    /// When the session began: the login this token descends from by refreshes (Unix seconds).
    pub auth_time: i64,
    /// The fingerprint of the account's password hash when the session began
    /// ([`Tokens::fingerprint`]): a new password makes it, and so every earlier token, stale.
    pub pwd: String,
}

/// Issues and checks HS256 tokens.
///
/// A token is revoked by what revokes a session: each one carries a keyed fingerprint of the
/// account's password hash (as Django's session auth hash does), so changing the password
/// (`POST /api/me/password`, an admin's change, a reset) makes every token issued before it
/// fail the caller check ([`crate::api`]'s `caller`), on every server sharing the database,
/// without a list of revoked tokens. A refresh keeps the session's start (`auth_time`); no
/// session outlives `max_session`, however often it is refreshed.
#[derive(Clone)]
pub struct Tokens {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    /// Keys the password fingerprints.
    fingerprint_key: Arc<[u8]>,
    ttl: Duration,
    max_session: Duration,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut key = b"didhub token password fingerprint\0".to_vec();
        key.extend_from_slice(secret);
        Tokens {
            encoding: Arc::new(EncodingKey::from_secret(secret)),
            decoding: Arc::new(DecodingKey::from_secret(secret)),
            fingerprint_key: key.into(),
            ttl,
            max_session: DEFAULT_MAX_SESSION,
        }
    }

    /// The same, with sessions ending `max_session` after their login.
    pub fn with_max_session(mut self, max_session: Duration) -> Self {
        self.max_session = max_session;
        self
    }

    /// A fresh random secret, for a server started without one (tokens die with the process).
    pub fn random_secret() -> Vec<u8> {
        let mut secret = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        secret
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// What a token carries of the password hash `password_hash`: 16 hex digits of a SHA-256
    /// keyed with the signing secret (the token's payload is readable by its holder).
    pub fn fingerprint(&self, password_hash: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(&self.fingerprint_key);
        digest.update(password_hash.as_bytes());
        hex(&digest.finalize()[..8])
    }

    /// A token for a new session of `user`, whose password hash is `password_hash`, valid from
    /// now for the configured lifetime.
    pub fn issue(&self, user: Id, password_hash: &str) -> Result<String, ApiError> {
        self.issue_at(user, password_hash, Utc::now().timestamp())
    }

    /// A token for a session begun at `iat` (Unix seconds).
    pub fn issue_at(&self, user: Id, password_hash: &str, iat: i64) -> Result<String, ApiError> {
        self.sign(&Claims {
            sub: user,
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            auth_time: iat,
            pwd: self.fingerprint(password_hash),
        })
    }

    /// A new token for the session `claims` belong to: issued now, with the session's start and
    /// fingerprint, expiring after the lifetime or at the session's end, whichever is first.
    /// 401 `session_expired` once the session is over.
    pub fn refresh(&self, claims: &Claims) -> Result<(String, Claims), ApiError> {
        let now = Utc::now().timestamp();
        let end = claims
            .auth_time
            .saturating_add(self.max_session.as_secs() as i64);
        if now >= end {
            return Err(ApiError::unauthorized(
                "session_expired",
                "the session is older than the longest a session lasts; log in again",
            ));
        }
        let claims = Claims {
            iat: now,
            exp: (now + self.ttl.as_secs() as i64).min(end),
            ..claims.clone()
        };
        Ok((self.sign(&claims)?, claims))
    }

    /// A token saying `claims`, signed.
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::default(), claims, &self.encoding).map_err(|e| {
            tracing::error!(error = %e, "cannot sign token");
            ApiError::internal()
        })
    }

    /// Checks signature, algorithm and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        // A token without `auth_time` or `pwd` (one issued before they existed) fails to decode.
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("token_expired", "the token has expired; log in again")
                }
                _ => ApiError::unauthorized("invalid_token", "the token is not valid"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The right password against a hash whose cost is just above the ceiling (made here with
    /// the argon2 crate itself): refused without being run, as a tampered backup's hash with a
    /// cost of gigabytes must be.
    #[tokio::test]
    async fn a_stored_hash_above_the_cost_ceiling_is_refused_not_run() {
        use argon2::password_hash::PasswordHasher;
        let over = PasswordCost {
            memory_kib: PasswordCost::CEILING.memory_kib + 8,
            ..PasswordCost::MINIMUM
        };
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let stored = Argon2::new(ARGON2.0, ARGON2.1, over.params().unwrap())
            .hash_password(b"right password", &salt)
            .unwrap()
            .to_string();
        let problem = stored_hash_problem(&stored).expect("above the ceiling");
        assert!(problem.contains("above the most"), "{problem}");
        let passwords = Passwords::new(PasswordCost::MINIMUM).unwrap();
        assert!(
            !passwords
                .verify("right password", Some(&stored))
                .await
                .unwrap()
        );

        let at = PasswordCost {
            memory_kib: PasswordCost::CEILING.memory_kib,
            ..PasswordCost::MINIMUM
        };
        let stored = Argon2::new(ARGON2.0, ARGON2.1, at.params().unwrap())
            .hash_password(b"right password", &salt)
            .unwrap()
            .to_string();
        assert_eq!(stored_hash_problem(&stored), None);
        assert!(
            passwords
                .verify("right password", Some(&stored))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let passwords = Passwords::new(PasswordCost::MINIMUM).unwrap();
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            passwords
                .verify("correct horse", Some(&hash))
                .await
                .unwrap()
        );
        assert!(!passwords.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(
            !passwords
                .verify("no user has this password", None)
                .await
                .unwrap()
        );
    }

    /// Hashing in reused memory makes the hashes the argon2 crate makes, and verifies theirs:
    /// hashes stored before, or by other tools, keep working.
    #[tokio::test]
    async fn hashes_are_the_argon2_crates_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let passwords = Passwords::new(PasswordCost::MINIMUM).unwrap();
        let ours = passwords.hash("correct horse").await.unwrap();
        let argon2 = Argon2::new(ARGON2.0, ARGON2.1, PasswordCost::MINIMUM.params().unwrap());
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2.verify_password(b"correct horse", &parsed).is_ok(),
            "{ours}"
        );
        assert!(argon2.verify_password(b"wrong horse", &parsed).is_err());

        // Theirs, at another cost than the server's: verified with the cost it names.
        let cost = PasswordCost {
            memory_kib: 64,
            iterations: 2,
            parallelism: 2,
        };
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::new(ARGON2.0, ARGON2.1, cost.params().unwrap())
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(
            passwords
                .verify("battery staple", Some(&theirs))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("battery stapler", Some(&theirs))
                .await
                .unwrap()
        );
        let own = PasswordCost::MINIMUM.params().unwrap().block_count();
        let within_own = passwords
            .memory
            .lock()
            .unwrap()
            .iter()
            .all(|b| b.len() <= own);
        assert!(within_own, "the bigger cost's memory was kept");
        assert!(
            !passwords
                .verify(
                    "battery staple",
                    Some("$argon2id$v=19$m=8,t=1,p=1$bm9zYWx0$")
                )
                .await
                .unwrap()
        );
    }

    /// One buffer of Argon2 memory per turn, however many hashes ran.
    #[tokio::test]
    async fn argon2_memory_is_one_buffer_per_turn_and_reused() {
        let passwords =
            Passwords::bounded(PasswordCost::MINIMUM, 2, Duration::from_secs(600)).unwrap();
        let hashes = (0..16).map(|i| {
            let passwords = passwords.clone();
            tokio::spawn(async move { passwords.hash(&format!("password {i}")).await })
        });
        for hash in hashes {
            hash.await.unwrap().unwrap();
        }
        let free = passwords.memory.lock().unwrap();
        assert!(
            !free.is_empty() && free.len() <= 2,
            "{} buffers",
            free.len()
        );
        let blocks = PasswordCost::MINIMUM.params().unwrap().block_count();
        assert!(free.iter().all(|b| b.len() == blocks));
    }

    #[tokio::test]
    async fn the_default_cost_is_argon2s_production_cost() {
        let passwords = Passwords::new(PasswordCost::default()).unwrap();
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!PasswordCost::default().is_below_production());
        assert!(PasswordCost::MINIMUM.is_below_production());
    }

    #[tokio::test]
    async fn a_hash_made_at_one_cost_verifies_at_another() {
        let cheap = Passwords::new(PasswordCost::MINIMUM).unwrap();
        let hash = cheap.hash("correct horse").await.unwrap();
        assert!(hash.contains("$m=8,t=1,p=1$"), "{hash}");
        let production = Passwords::new(PasswordCost::PRODUCTION).unwrap();
        assert!(
            production
                .verify("correct horse", Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn with_every_turn_taken_hashing_and_verifying_answer_503_with_retry_after() {
        let passwords =
            Passwords::bounded(PasswordCost::MINIMUM, 1, Duration::from_millis(20)).unwrap();
        let hash = passwords.hash("correct horse").await.unwrap();
        let held = passwords.turns.clone().try_acquire_owned().unwrap();
        let busy = passwords.hash("correct horse").await.unwrap_err();
        assert_eq!(
            (busy.status.as_u16(), busy.code, busy.retry_after),
            (503, "server_busy", Some(HASH_BUSY_RETRY_SECS))
        );
        let busy = passwords.verify("correct horse", Some(&hash)).await;
        assert_eq!(busy.unwrap_err().code, "server_busy");
        drop(held);
        assert!(
            passwords
                .verify("correct horse", Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_hash_waits_for_a_turn_that_frees_up_in_time() {
        let passwords =
            Passwords::bounded(PasswordCost::MINIMUM, 1, Duration::from_secs(600)).unwrap();
        let held = passwords.turns.clone().try_acquire_owned().unwrap();
        let waiting = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.hash("correct horse").await }
        });
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiting.await.unwrap().unwrap().starts_with("$argon2id$"));
    }

    #[test]
    fn an_impossible_cost_is_refused_with_its_values() {
        let cost = PasswordCost {
            memory_kib: 4,
            iterations: 1,
            parallelism: 1,
        };
        let error = Passwords::new(cost).err().unwrap();
        assert!(error.contains("memory_kib: 4"), "{error}");
    }

    #[test]
    fn an_unknown_user_costs_a_full_verification_against_the_dummy_hash() {
        let passwords = Passwords::new(PasswordCost::MINIMUM).unwrap();
        let dummy = passwords.dummy_hash(&mut Vec::new()).to_owned();
        let mut checked = Vec::new();
        let matched = verify_with("guess", None, &dummy, |password, hash| {
            checked.push((password.to_vec(), hash.to_string()));
            true // even a password that matched the dummy must not log anyone in
        });
        assert!(!matched);
        assert_eq!(checked, [(b"guess".to_vec(), dummy.clone())]);
        assert!(
            dummy.starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
            "same algorithm and cost as real hashes: {dummy}"
        );

        let mut runs = 0;
        assert!(verify_with("guess", Some(&dummy), &dummy, |_, _| {
            runs += 1;
            true
        }));
        assert_eq!(runs, 1);
    }

    #[test]
    fn reset_tokens_are_long_random_and_hashed_one_way() {
        let (a, b) = (new_reset_token(), new_reset_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 * RESET_TOKEN_BYTES);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_eq!(
            reset_token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(reset_token_hash(&a), a);
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let tokens = Tokens::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let id = Id::new();
        let claims = tokens.verify(&tokens.issue(id, "hash").unwrap()).unwrap();
        assert_eq!(claims.sub, id);
        assert_eq!(claims.pwd, tokens.fingerprint("hash"));

        let old = tokens
            .issue_at(id, "hash", Utc::now().timestamp() - 120)
            .unwrap();
        assert_eq!(tokens.verify(&old).unwrap_err().code, "token_expired");

        let other = Tokens::new(b"another secret, another secret!!", Duration::from_secs(60));
        assert_eq!(
            other
                .verify(&tokens.issue(id, "hash").unwrap())
                .unwrap_err()
                .code,
            "invalid_token"
        );
        assert_eq!(tokens.verify("garbage").unwrap_err().code, "invalid_token");
    }

    #[test]
    fn fingerprints_differ_by_password_hash_and_by_secret() {
        let tokens = Tokens::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let other = Tokens::new(b"another secret, another secret!!", Duration::from_secs(60));
        let print = tokens.fingerprint("$argon2id$v=19$a");
        assert_eq!(print.len(), 16);
        assert_eq!(print, tokens.fingerprint("$argon2id$v=19$a"));
        assert_ne!(print, tokens.fingerprint("$argon2id$v=19$b"));
        assert_ne!(print, other.fingerprint("$argon2id$v=19$a"));
    }

    #[test]
    fn a_refresh_keeps_the_session_start_and_ends_with_the_session() {
        let tokens = Tokens::new(
            b"0123456789abcdef0123456789abcdef",
            Duration::from_secs(3600),
        )
        .with_max_session(Duration::from_secs(7200));
        let id = Id::new();
        let now = Utc::now().timestamp();
        // Logged in 100 minutes ago: the refreshed token ends with the session, in 20 minutes.
        let claims = Claims {
            sub: id,
            iat: now - 60,
            exp: now + 60,
            auth_time: now - 6000,
            pwd: tokens.fingerprint("hash"),
        };
        let (token, refreshed) = tokens.refresh(&claims).unwrap();
        assert_eq!(refreshed.auth_time, now - 6000);
        assert!(refreshed.exp <= now - 6000 + 7200, "{refreshed:?}");
        assert!(refreshed.iat >= now);
        assert_eq!(tokens.verify(&token).unwrap().auth_time, now - 6000);
        // Logged in more than two hours ago: no refresh.
        let over = Claims {
            auth_time: now - 7201,
            ..claims
        };
        assert_eq!(tokens.refresh(&over).unwrap_err().code, "session_expired");
    }
}
