//! `authstate keys generate`: a new data-encryption key for the record keyring.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use authstate::ErrorKind;
use authstate::SecretBytes;
use authstate::codec::{Algorithm, DataKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::cli::GenerateArgs;
use crate::error::CliError;

/// Prints a new random key from the operating system's random source, with its id.
///
/// The key goes to stdout only (never to the log); the advice on how to use it goes to
/// stderr, so `authstate keys generate > key.txt` captures just the key.
pub fn generate(args: &GenerateArgs) -> Result<(), CliError> {
    let algorithm = if args.aes128 {
        Algorithm::Aes128Gcm
    } else {
        Algorithm::Aes256Gcm
    };
    let id = match &args.id {
        Some(id) => id.clone(),
        None => default_key_id()?,
    };

    let mut material = Zeroizing::new(vec![0u8; algorithm.key_len()]);
    authstate::id::random_bytes(&mut material)?;
    // The keyring's own constructor checks the id and the length, so a key printed here
    // is one the keyring accepts.
    DataKey::new(&id, algorithm, SecretBytes::new(material.to_vec())).map_err(|e| {
        if e.kind() == ErrorKind::ConfigInvalid {
            CliError::Usage(format!("--id: {}", e.message()))
        } else {
            CliError::Store(e)
        }
    })?;
    let encoded = Zeroizing::new(STANDARD.encode(&*material));

    tracing::debug!(key_id = %id, algorithm = %algorithm, "generated a data key");
    let mut out = std::io::stdout().lock();
    writeln!(out, "key id:    {id}")?;
    writeln!(out, "algorithm: {algorithm}")?;
    writeln!(out, "key:       {}", &*encoded)?;
    out.flush()?;

    eprintln!(
        "Keep the key secret (a secret file or an environment variable, not a config file). \
         Make it the keyring's write key: new records are sealed with it and carry the id \
         {id:?}; keep the previous key as a read key until every record sealed with it has \
         expired or been rewritten."
    );
    Ok(())
}

/// `k`, today's date (UTC) and six random hex digits, e.g. `k20260810-3fa9c2`: sortable
/// by age, and two keys made the same day still differ.
fn default_key_id() -> Result<String, CliError> {
    let mut suffix = [0u8; 3];
    authstate::id::random_bytes(&mut suffix)?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    Ok(format!(
        "k{y:04}{m:02}{d:02}-{:02x}{:02x}{:02x}",
        suffix[0], suffix[1], suffix[2]
    ))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn default_ids_are_valid_key_ids() {
        let id = default_key_id().expect("random source");
        assert_eq!(id.len(), 16, "{id}");
        let key = DataKey::generate(id, Algorithm::Aes256Gcm);
        assert!(key.is_ok());
    }
}
