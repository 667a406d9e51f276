//! Shamir key groups: end to end through the CLI, and the split/combine arithmetic checked
//! against an independent (log/exp table) GF(2^8) implementation written here.

use proptest::prelude::*;

use shroud::keysource::shamir;

use crate::util::*;

/// Independent GF(2^8) arithmetic over x^8+x^4+x^3+x+1 with generator 3, via log tables.
struct Gf {
    exp: [u8; 512],
    log: [u8; 256],
}

impl Gf {
    fn new() -> Gf {
        let mut exp = [0u8; 512];
        let mut log = [0u8; 256];
        let mut x: u8 = 1;
        for (i, slot) in exp.iter_mut().enumerate().take(255) {
            *slot = x;
            log[x as usize] = i as u8;
            // multiply by 3 = x * 2 ^ x
            let x2 = (x << 1) ^ if x & 0x80 != 0 { 0x1b } else { 0 };
            x ^= x2;
        }
        for i in 255..512 {
            exp[i] = exp[i - 255];
        }
        Gf { exp, log }
    }
    fn mul(&self, a: u8, b: u8) -> u8 {
        if a == 0 || b == 0 {
            0
        } else {
            self.exp[self.log[a as usize] as usize + self.log[b as usize] as usize]
        }
    }
    fn div(&self, a: u8, b: u8) -> u8 {
        if a == 0 {
            0
        } else {
            self.exp[(self.log[a as usize] as usize + 255 - self.log[b as usize] as usize) % 255]
        }
    }
    /// Lagrange interpolation at 0 from (x, y) pairs.
    fn combine(&self, shares: &[Vec<u8>]) -> Vec<u8> {
        let len = shares[0].len() - 1;
        let xs: Vec<u8> = shares.iter().map(|s| s[len]).collect();
        (0..len)
            .map(|idx| {
                let mut acc = 0u8;
                for i in 0..shares.len() {
                    let mut basis = 1u8;
                    for j in 0..shares.len() {
                        if i != j {
                            basis = self.mul(basis, self.div(xs[j], xs[i] ^ xs[j]));
                        }
                    }
                    acc ^= self.mul(shares[i][idx], basis);
                }
                acc
            })
            .collect()
    }
    /// Splits with the sops layout (y bytes, then x = i+1), coefficients from `coeffs`.
    fn split(&self, secret: &[u8], n: usize, k: usize, coeffs: &[u8]) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let x = (i + 1) as u8;
                let mut share: Vec<u8> = secret
                    .iter()
                    .enumerate()
                    .map(|(b, &s)| {
                        let mut y = s;
                        let mut xp = 1u8;
                        for d in 1..k {
                            xp = self.mul(xp, x);
                            y ^= self.mul(coeffs[(b * (k - 1) + d - 1) % coeffs.len()], xp);
                        }
                        y
                    })
                    .collect();
                share.push(x);
                share
            })
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    #[test]
    fn matches_an_independent_implementation(secret in prop::collection::vec(any::<u8>(), 1..40),
                                              n in 2usize..7, k_off in 0usize..5,
                                              coeffs in prop::collection::vec(any::<u8>(), 1..64),
                                              pick in any::<u64>()) {
        let k = 2 + k_off % (n - 1);
        let gf = Gf::new();
        // Ours splits, the reference combines any k shares.
        let ours = shamir::split(&secret, n, k).unwrap();
        let mut idx: Vec<usize> = (0..n).collect();
        idx.rotate_left((pick as usize) % n);
        let chosen: Vec<Vec<u8>> = idx[..k].iter().map(|&i| ours[i].expose().to_vec()).collect();
        prop_assert_eq!(gf.combine(&chosen), secret.clone());
        // The reference splits, ours combines.
        let theirs = gf.split(&secret, n, k, &coeffs);
        let refs: Vec<&[u8]> = idx[..k].iter().map(|&i| theirs[i].as_slice()).collect();
        let combined = shamir::combine(&refs).unwrap();
        prop_assert_eq!(combined.expose(), &secret[..]);
    }
}

#[test]
fn key_groups_open_with_any_threshold_of_groups() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["keygen", "-o", "third.txt"]).run();
    let third = stdout(&out).trim().to_owned();
    sb.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{TEST_RECIPIENT}]\n      - age: [{TEST_RECIPIENT2}]\n      - age: [{third}]\n"
        ),
    );
    sb.write("s.yaml", "k: v\n");
    assert_code(&sb.cmd().args(["encrypt", "-i", "s.yaml"]).run(), 0);
    let text = sb.read("s.yaml");
    assert!(
        text.contains("key_groups:") && text.contains("shamir_threshold: 2"),
        "{text}"
    );
    let keys = [test_key(), test_key2(), sb.path("third.txt")];
    for a in 0..3 {
        for b in 0..3 {
            let combined = format!(
                "{}\n{}",
                std::fs::read_to_string(&keys[a]).unwrap(),
                std::fs::read_to_string(&keys[b]).unwrap()
            );
            let out = sb
                .cmd()
                .env("SOPS_AGE_KEY", combined)
                .args(["decrypt", "s.yaml"])
                .run();
            if a != b {
                assert_code(&out, 0);
                assert_eq!(stdout(&out), "k: v\n");
            } else {
                assert_code(&out, 128);
                let err = stderr(&out);
                assert!(err.contains("1 of 3 key groups opened, 2 needed"), "{err}");
                assert!(
                    err.contains("group ") && err.contains("no loaded identity"),
                    "{err}"
                );
            }
        }
    }
}
