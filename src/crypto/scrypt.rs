//! scrypt (RFC 7914), tuned for Better Auth's N=16384, r=16, p=1.
//!
//! PBKDF2-HMAC-SHA256 (the cheap outer steps) comes from `pbkdf2`; ROMix is
//! written here. With p=1, scrypt is one serial chain of ~1M Salsa20/8 calls,
//! so what counts is the *latency* of one Salsa20/8. Each of its 32 dependent
//! steps is `b ^= (a + d) <<< k`: in general-purpose registers that is three
//! 1-cycle instructions (x86 has `rol`), while SSE2 needs four (no vector
//! rotate) and on this Zen 5 vector integer ops take 2 cycles each. So a plain
//! scalar core, its four independent quarter-rounds interleaved, beat the SSE2
//! "diagonal layout" core ~2.4x and an AVX-512 `vprold` one ~1.7x here; there
//! is no SIMD path. The rest is memory: V is kept per thread and each random
//! V[j] is prefetched whole.

use pbkdf2::pbkdf2_hmac;
use sha2::Sha256;
use std::cell::Cell;

/// scrypt(password, salt, N = 2^log_n, r, p) into `out` (RFC 7914).
pub fn scrypt(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32, out: &mut [u8]) {
    let (r, p) = (r as usize, p as usize);
    // RFC 7914: N = 2^log_n > 1 and N < 2^(16 r); p * r < 2^30; dkLen <= (2^32 - 1) * 32.
    assert!(r >= 1 && p >= 1 && (r as u64) * (p as u64) < 1 << 30, "scrypt: bad r/p");
    assert!(log_n >= 1 && (log_n as usize) < 16 * r, "scrypt: bad log_n");
    assert!(!out.is_empty() && out.len() as u64 <= 32 * u32::MAX as u64, "scrypt: bad dkLen");
    let v_bytes = 1usize.checked_shl(log_n.into()).and_then(|n| n.checked_mul(r)?.checked_mul(128));
    let b_bytes = r.checked_mul(p).and_then(|rp| rp.checked_mul(128));
    assert!(v_bytes.is_some_and(|b| b <= isize::MAX as usize) && b_bytes.is_some(), "scrypt: N, r or p too large");

    let mut b = vec![0u8; 128 * r * p];
    pbkdf2_hmac::<Sha256>(password, salt, 1, &mut b);
    // A fresh 32 MiB V per hash costs an mmap, ~8k page faults and an munmap
    // (the hash rate was ~25% lower), so each thread keeps its V. `try_with`
    // so that a call during thread teardown just allocates instead of panicking.
    let mut v = V.try_with(Cell::take).unwrap_or_default();
    for chunk in b.chunks_exact_mut(128 * r) {
        romix(chunk, log_n, r, &mut v);
    }
    if v.len() * 64 <= MAX_CACHED_V {
        let _ = V.try_with(|cell| cell.set(v));
    }
    pbkdf2_hmac::<Sha256>(password, &b, 1, out);
}

/// Largest V kept per thread (Better Auth needs 32 MiB).
const MAX_CACHED_V: usize = 64 << 20;

thread_local! {
    static V: Cell<Vec<Block>> = const { Cell::new(Vec::new()) };
}

/// One 64-byte Salsa20 block as 16 little-endian words. Aligned so each block
/// is exactly one cache line.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Block([u32; 16]);

impl Block {
    const ZERO: Block = Block([0; 16]);

    fn load(bytes: &[u8]) -> Block {
        let mut w = [0u32; 16];
        for (w, c) in w.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_le_bytes(c.try_into().unwrap());
        }
        Block(w)
    }

    fn store(&self, bytes: &mut [u8]) {
        for (w, c) in self.0.iter().zip(bytes.chunks_exact_mut(4)) {
            c.copy_from_slice(&w.to_le_bytes());
        }
    }

    #[inline(always)]
    fn xor(mut self, o: Block) -> Block {
        self.0.iter_mut().zip(o.0).for_each(|(a, b)| *a ^= b);
        self
    }

    /// Salsa20/8 core: 8 rounds plus the feed-forward add.
    #[inline(always)]
    fn salsa8(self) -> Block {
        let mut x = self.0;
        // One step of all four quarter-rounds side by side (they are
        // independent, so the CPU overlaps them): x[t] ^= (x[u] + x[v]) <<< k.
        macro_rules! step {
            ($k:literal: $($t:literal $u:literal $v:literal),*) => {
                $( x[$t] ^= x[$u].wrapping_add(x[$v]).rotate_left($k); )*
                $( opaque(&mut x[$t]); )*
            };
        }
        for _ in 0..4 {
            // columns
            step!(7: 4 0 12, 9 5 1, 14 10 6, 3 15 11);
            step!(9: 8 4 0, 13 9 5, 2 14 10, 7 3 15);
            step!(13: 12 8 4, 1 13 9, 6 2 14, 11 7 3);
            step!(18: 0 12 8, 5 1 13, 10 6 2, 15 11 7);
            // rows
            step!(7: 1 0 3, 6 5 4, 11 10 9, 12 15 14);
            step!(9: 2 1 0, 7 6 5, 8 11 10, 13 12 15);
            step!(13: 3 2 1, 4 7 6, 9 8 11, 14 13 12);
            step!(18: 0 3 2, 5 4 7, 10 9 8, 15 14 13);
        }
        let mut out = self;
        out.0.iter_mut().zip(x).for_each(|(a, b)| *a = a.wrapping_add(b));
        out
    }
}

/// Emits nothing; hides `v` from LLVM's SLP vectorizer, which otherwise (with
/// `-C target-cpu=znver4/5`/`native`) packs the four quarter-rounds into AVX-512
/// ops plus lane permutes: 2.7x slower here, as this chain is latency-bound.
#[inline(always)]
fn opaque(v: &mut u32) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut w = *v;
        // SAFETY: the asm body is a comment: no instructions, memory or flags.
        unsafe { core::arch::asm!("/* {0:e} */", inout(reg) w, options(pure, nomem, nostack, preserves_flags)) };
        *v = w;
    }
    let _ = v; // unused off x86_64
}

/// BlockMix: `input(i)` yields block i of the 2r-block input (lets ROMix fuse
/// the `X ^ V[j]` xor in), the output goes straight to `out`, already
/// shuffled (even blocks first, then odd), so no temporary or copy is needed.
#[inline(always)]
fn block_mix(r: usize, input: impl Fn(usize) -> Block, out: &mut [Block]) {
    let (even, odd) = out.split_at_mut(r);
    let mut x = input(2 * r - 1);
    for i in 0..r {
        x = x.xor(input(2 * i)).salsa8();
        even[i] = x;
        x = x.xor(input(2 * i + 1)).salsa8();
        odd[i] = x;
    }
}

/// Requests every cache line of a random V[j] block up front, so the DRAM
/// latency is paid about once per BlockMix rather than line by line (loop 2
/// is ~20% faster than with the hardware prefetcher alone). The lines needed
/// first (the last block, then blocks 0 and 1) go to L1, the rest to L2 so
/// they do not compete for L1 miss buffers; that split measured best.
#[inline(always)]
fn prefetch(blocks: &[Block]) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _MM_HINT_T1, _mm_prefetch};
        let line = |i: usize| (&blocks[i] as *const Block).cast::<i8>();
        let last = blocks.len() - 1;
        // SAFETY: a prefetch is only a hint: it never faults or writes, and
        // every pointer comes from a live reference anyway.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(line(last));
            _mm_prefetch::<_MM_HINT_T0>(line(0));
            _mm_prefetch::<_MM_HINT_T0>(line(1));
            for i in 2..last {
                _mm_prefetch::<_MM_HINT_T1>(line(i));
            }
        }
    }
    let _ = blocks; // unused off x86_64
}

/// ROMix on one 128·r-byte chunk of B, with `v` as scratch for V.
fn romix(b: &mut [u8], log_n: u8, r: usize, v: &mut Vec<Block>) {
    let (n, len) = (1usize << log_n, 2 * r);
    if v.len() < n * len {
        v.resize(n * len, Block::ZERO);
    }
    let mut x: Vec<Block> = b.chunks_exact(64).map(Block::load).collect();
    let mut y = vec![Block::ZERO; len];
    v[..len].copy_from_slice(&x);
    // V[i] = BlockMix(V[i-1]), written in place: no copy into V.
    for i in 1..n {
        let (done, rest) = v.split_at_mut(i * len);
        let prev = &done[(i - 1) * len..];
        block_mix(r, |k| prev[k], &mut rest[..len]);
    }
    let last = &v[(n - 1) * len..n * len];
    block_mix(r, |k| last[k], &mut x);
    // X = BlockMix(X ^ V[Integerify(X) mod N]), ping-ponging between x and y.
    // Integerify: words 0 and 1 of the last block as a little-endian u64.
    let j = |t: &[Block]| ((t[len - 1].0[0] as u64 | (t[len - 1].0[1] as u64) << 32) & (n as u64 - 1)) as usize;
    for _ in 0..n / 2 {
        let vj = &v[j(&x) * len..][..len];
        prefetch(vj);
        block_mix(r, |k| x[k].xor(vj[k]), &mut y);
        let vj = &v[j(&y) * len..][..len];
        prefetch(vj);
        block_mix(r, |k| y[k].xor(vj[k]), &mut x);
    }
    for (t, c) in x.iter().zip(b.chunks_exact_mut(64)) {
        t.store(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Deterministic filler (splitmix64) so failures are reproducible.
    fn bytes(seed: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let z = (*seed ^ (*seed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                (z ^ (z >> 31)) as u8
            })
            .collect()
    }

    #[test]
    fn rfc7914_vectors() {
        let cases: [(&str, &str, u8, u32, u32, &str); 3] = [
            (
                "",
                "",
                4,
                1,
                1,
                "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906",
            ),
            (
                "password",
                "NaCl",
                10,
                8,
                16,
                "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
            ),
            (
                "pleaseletmein",
                "SodiumChloride",
                14,
                8,
                1,
                "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887",
            ),
        ];
        for (pw, salt, log_n, r, p, want) in cases {
            let mut out = [0u8; 64];
            scrypt(pw.as_bytes(), salt.as_bytes(), log_n, r, p, &mut out);
            assert_eq!(hex(&out), want, "N=2^{log_n} r={r} p={p}");
        }
    }

    #[test]
    #[ignore = "needs 1 GiB of memory"]
    fn rfc7914_vector_n_2_20() {
        let mut out = [0u8; 64];
        scrypt(b"pleaseletmein", b"SodiumChloride", 20, 8, 1, &mut out);
        assert_eq!(
            hex(&out),
            "2101cb9b6a511aaeaddbbe09cf70f881ec568d574a2ffd4dabe5ee9820adaa478e56fd8f4ba5d09ffa1c6d927c40f4c337304049e8a952fbcbf45c6fa77a41a4"
        );
    }

    /// Known answer from Node v20 (OpenSSL), produced with:
    /// node -e 'console.log(require("crypto").scryptSync("password-123".normalize("NFKC"),
    ///   "0123456789abcdef0123456789abcdef", 64, {N:16384,r:16,p:1,maxmem:64*1024*1024}).toString("hex"))'
    #[test]
    fn matches_node_better_auth_params() {
        let want = "c79549873a3166e2ca9e839c752f8f4ddf5e28aa2403eadc9d7d45a3b6d735eb\
                    db24b37ae89fd08295e8500566657691fa943c9c8f706883b70162fe4eb6bd7a";
        let mut out = [0u8; 64];
        scrypt(b"password-123", b"0123456789abcdef0123456789abcdef", 14, 16, 1, &mut out);
        assert_eq!(hex(&out), want);
    }

    /// Node again, where RustCrypto cannot go (dkLen > 64), with p > 1 and odd r:
    /// node -e 'console.log(require("crypto").scryptSync("pässwörd", "salt\u0000with\u0000nul",
    ///   100, {N:1024,r:3,p:2}).toString("hex"))'
    #[test]
    fn matches_node_long_output() {
        let want = "079056a257bf306e7b623518a7f14f893b72f189533c362c4e09a79bb8c0ba9eed6dc253\
                    ae09371cb20fbc47631e0296677a903fdc5c6dc86af3520787290656194b721f17c4f3ae\
                    7f58f6492ddb4aefda0ff6bcf965207f97ce972f81a35211087097f5";
        let mut out = [0u8; 100];
        scrypt("pässwörd".as_bytes(), b"salt\0with\0nul", 10, 3, 2, &mut out);
        assert_eq!(hex(&out), want);
    }

    /// Each thread keeps its own V; concurrent hashes must not interfere.
    #[test]
    fn concurrent_threads_agree() {
        let run = || {
            let mut out = [0u8; 64];
            scrypt(b"password-123", b"0123456789abcdef0123456789abcdef", 14, 16, 1, &mut out);
            hex(&out)
        };
        let threads: Vec<_> = (0..3).map(|_| std::thread::spawn(move || [run(), run()])).collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), [run(), run()]);
        }
    }

    /// Random inputs against RustCrypto `scrypt`: small r/p/dkLen edge cases,
    /// Better Auth's parameters, and a shrinking N after a large one (the
    /// per-thread V is then longer than needed).
    #[test]
    fn matches_rustcrypto_scrypt() {
        let params = [
            (14, 16, 1, 64),
            (1, 1, 1, 10),
            (2, 1, 2, 33),
            (3, 2, 3, 50),
            (5, 3, 1, 64),
            (8, 4, 2, 32),
            (10, 1, 1, 64),
            (6, 16, 1, 64),
            (14, 16, 1, 64),
        ];
        let mut seed = 1;
        for (log_n, r, p, len) in params {
            let (pw, salt) = (bytes(&mut seed, 12), bytes(&mut seed, 32));
            let mut want = vec![0u8; len];
            let params = ::scrypt::Params::new(log_n, r, p, len).unwrap();
            ::scrypt::scrypt(&pw, &salt, &params, &mut want).unwrap();
            let mut got = vec![0u8; len];
            scrypt(&pw, &salt, log_n, r, p, &mut got);
            assert_eq!(hex(&got), hex(&want), "log_n={log_n} r={r} p={p} len={len}");
        }
    }
}
