//! Shamir secret sharing over GF(2^8) exactly as sops does it (HashiCorp Vault's scheme with the
//! AES polynomial x^8+x^4+x^3+x+1): share `i` is evaluated at x = i+1 and laid out as the
//! secret-length y bytes followed by the x byte.
//!
//! Owns: split and combine. Must not know: key groups or how shares are wrapped.

use rand::RngCore;

use crate::secret::SecretBytes;

/// Multiplication in GF(2^8) with reduction 0x1B, constant time (no branches on data).
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    for _ in 0..8 {
        r ^= a & 0u8.wrapping_sub(b & 1);
        let hi = a >> 7;
        a = (a << 1) ^ (0x1b & 0u8.wrapping_sub(hi));
        b >>= 1;
    }
    r
}

/// a^254 = a^-1 (and 0 for 0).
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShamirError {
    #[error(
        "threshold must be between 2 and the number of shares (got threshold {threshold} of {shares})"
    )]
    BadThreshold { threshold: usize, shares: usize },
    #[error("at most 255 shares are possible")]
    TooManyShares,
    #[error("need at least 2 shares to combine")]
    TooFewShares,
    #[error("shares have different lengths")]
    LengthMismatch,
    #[error("two shares have the same x coordinate")]
    DuplicateShare,
    #[error("a share is too short")]
    ShortShare,
}

/// Splits `secret` into `shares` parts, any `threshold` of which recover it.
pub fn split(
    secret: &[u8],
    shares: usize,
    threshold: usize,
) -> Result<Vec<SecretBytes>, ShamirError> {
    if shares > 255 {
        return Err(ShamirError::TooManyShares);
    }
    if threshold < 2 || threshold > shares {
        return Err(ShamirError::BadThreshold { threshold, shares });
    }
    let mut out: Vec<Vec<u8>> = (0..shares)
        .map(|i| {
            let mut v = vec![0u8; secret.len() + 1];
            v[secret.len()] = (i + 1) as u8;
            v
        })
        .collect();
    let mut coeffs = vec![0u8; threshold - 1];
    let mut rng = rand::rngs::OsRng;
    for (idx, &byte) in secret.iter().enumerate() {
        rng.fill_bytes(&mut coeffs);
        for share in out.iter_mut() {
            let x = share[secret.len()];
            // Horner: ((c_{k-1} x + c_{k-2}) x + ...) x + secret
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = mul(y, x) ^ c;
            }
            y = mul(y, x) ^ byte;
            share[idx] = y;
        }
    }
    crate::secret::wipe(&mut coeffs);
    Ok(out.into_iter().map(SecretBytes::new).collect())
}

/// Recovers the secret from shares (y bytes then the x byte) by Lagrange interpolation at 0.
pub fn combine(parts: &[&[u8]]) -> Result<SecretBytes, ShamirError> {
    if parts.len() < 2 {
        return Err(ShamirError::TooFewShares);
    }
    let len = parts[0].len();
    if len < 2 {
        return Err(ShamirError::ShortShare);
    }
    if parts.iter().any(|p| p.len() != len) {
        return Err(ShamirError::LengthMismatch);
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for i in 0..xs.len() {
        if xs[i + 1..].contains(&xs[i]) {
            return Err(ShamirError::DuplicateShare);
        }
    }
    let mut secret = vec![0u8; len - 1];
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for i in 0..parts.len() {
            let mut basis = 1u8;
            for j in 0..parts.len() {
                if i != j {
                    // (0 - x_j) / (x_i - x_j); subtraction is XOR in GF(2^8).
                    basis = mul(basis, mul(xs[j], inv(xs[i] ^ xs[j])));
                }
            }
            acc ^= mul(parts[i][idx], basis);
        }
        *out = acc;
    }
    Ok(SecretBytes::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_arithmetic() {
        assert_eq!(mul(0x57, 0x83), 0xc1); // FIPS-197 example
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1);
        }
    }

    #[test]
    fn every_threshold_combination_recovers() {
        let secret: Vec<u8> = (0..32).collect();
        for n in 2..=5usize {
            for k in 2..=n {
                let shares = split(&secret, n, k).unwrap();
                assert!(shares.iter().all(|s| s.len() == 33));
                for mask in 0u32..(1 << n) {
                    let chosen: Vec<&[u8]> = (0..n)
                        .filter(|i| mask & (1 << i) != 0)
                        .map(|i| shares[i].expose())
                        .collect();
                    if chosen.len() >= k {
                        assert_eq!(
                            combine(&chosen).unwrap().expose(),
                            &secret[..],
                            "n={n} k={k} mask={mask:b}"
                        );
                    } else if chosen.len() >= 2 {
                        assert_ne!(combine(&chosen).unwrap().expose(), &secret[..]);
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(split(b"x", 3, 1).is_err());
        assert!(split(b"x", 2, 3).is_err());
        let s = split(b"abc", 3, 2).unwrap();
        assert_eq!(
            combine(&[s[0].expose(), s[0].expose()]),
            Err(ShamirError::DuplicateShare)
        );
        assert_eq!(combine(&[s[0].expose()]), Err(ShamirError::TooFewShares));
    }
}
