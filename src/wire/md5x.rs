//! Many independent MD5s at once: sixteen lanes of AVX-512 or eight of AVX2, one
//! message per lane.
//!
//! A proxied RADIUS request costs about twenty MD5 blocks (the NAS's and the AAA's
//! Message-Authenticators and authenticators, and our own), and MD5 is a serial chain
//! within one message: a scalar core spends ~300 cycles per block waiting on its own
//! results. Across the packets of one receive batch the messages are independent, so
//! they go through the rounds side by side in the lanes of 512- or 256-bit registers,
//! for roughly the price of one. Without either (or for a single message) the same jobs
//! run through the scalar core here.
//!
//! A job is MD5 continued from a given state (the initial one, or a prepared HMAC
//! ipad/opad state) over bytes the caller writes into the job's buffer, which is kept
//! and reused: after warm-up nothing here allocates.

/// MD5's initial state (RFC 1321 section 3.3).
pub const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// Which message word step `i` reads.
const fn word(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// One MD5 block on one state: the scalar core.
pub fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    let mut m = [0u32; 16];
    for (w, b) in m.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let f = match i / 16 {
            0 => d ^ (b & (c ^ d)),
            1 => c ^ (d & (b ^ c)),
            2 => b ^ c ^ d,
            _ => c ^ (b | !d),
        };
        let t = a
            .wrapping_add(f)
            .wrapping_add(K[i])
            .wrapping_add(m[word(i)]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(t.rotate_left(S[i]));
    }
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// The digest of a state.
pub fn digest(state: &[u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// The widest lanes this CPU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Width {
    Scalar,
    Avx2,
    Avx512,
}

impl Width {
    fn detect() -> Width {
        static WIDTH: std::sync::OnceLock<Width> = std::sync::OnceLock::new();
        *WIDTH.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Width::Avx512;
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    return Width::Avx2;
                }
            }
            Width::Scalar
        })
    }
}

#[derive(Debug, Default)]
struct Job {
    state: [u32; 4],
    /// Octets hashed into `state` before this job's own (a multiple of 64).
    prefix: u64,
    /// The job's bytes, then (after `pad`) MD5's padding to whole blocks.
    buf: Vec<u8>,
}

impl Job {
    fn pad(&mut self) {
        let bits = (self.prefix + self.buf.len() as u64) * 8;
        self.buf.push(0x80);
        let padded = (self.buf.len() + 8).div_ceil(64) * 64 - 8;
        self.buf.resize(padded, 0);
        self.buf.extend_from_slice(&bits.to_le_bytes());
    }

    fn blocks(&self) -> usize {
        self.buf.len() / 64
    }

    fn block(&self, i: usize) -> &[u8; 64] {
        self.buf[i * 64..i * 64 + 64].try_into().expect("64 octets")
    }
}

/// A set of MD5 jobs computed together. Reuse one: its buffers are kept.
#[derive(Debug, Default)]
pub struct Lanes {
    jobs: Vec<Job>,
    len: usize,
    /// Job indices ordered by block count, so that lanes run together finish together.
    order: Vec<usize>,
}

impl Lanes {
    pub fn new() -> Lanes {
        Lanes::default()
    }

    /// Forgets all jobs (keeping their buffers).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a job continuing from `state` after `prefix` octets (a multiple of 64; 0 and
    /// [`INIT`] for a plain MD5). Returns its index and the buffer to write its bytes to.
    pub fn push(&mut self, state: [u32; 4], prefix: u64) -> (usize, &mut Vec<u8>) {
        debug_assert!(prefix.is_multiple_of(64));
        if self.len == self.jobs.len() {
            self.jobs.push(Job::default());
        }
        let i = self.len;
        self.len += 1;
        let job = &mut self.jobs[i];
        job.state = state;
        job.prefix = prefix;
        job.buf.clear();
        (i, &mut job.buf)
    }

    /// Computes every job; read the results with [`Lanes::digest`] or [`Lanes::state`].
    pub fn run(&mut self) {
        self.run_with(Width::detect());
    }

    /// [`Lanes::run`] with the lanes of `width` at most.
    fn run_with(&mut self, width: Width) {
        let jobs = &mut self.jobs[..self.len];
        for j in jobs.iter_mut() {
            j.pad();
        }
        self.order.clear();
        self.order.extend(0..self.len);
        self.order.sort_unstable_by_key(|&i| jobs[i].blocks());
        let mut rest: &[usize] = &self.order;
        #[cfg(not(target_arch = "x86_64"))]
        let _ = width;
        #[cfg(target_arch = "x86_64")]
        {
            if width >= Width::Avx512 {
                // Sixteen lanes while more than eight jobs are left.
                while rest.len() > 8 {
                    let n = rest.len().min(16);
                    // SAFETY: AVX-512F is present (`Width::detect`).
                    unsafe { avx512::run_group(jobs, &rest[..n]) };
                    rest = &rest[n..];
                }
            }
            if width >= Width::Avx2 {
                while rest.len() >= 2 {
                    let n = rest.len().min(8);
                    // SAFETY: AVX2 is present (`Width::detect`).
                    unsafe { avx2::run_group(jobs, &rest[..n]) };
                    rest = &rest[n..];
                }
            }
        }
        for &i in rest {
            let j = &mut jobs[i];
            for b in 0..j.blocks() {
                let block = *j.block(b);
                compress(&mut j.state, &block);
            }
        }
    }

    /// The final state of job `i` (after [`Lanes::run`]).
    pub fn state(&self, i: usize) -> [u32; 4] {
        self.jobs[i].state
    }

    /// The digest of job `i` (after [`Lanes::run`]).
    pub fn digest(&self, i: usize) -> [u8; 16] {
        digest(&self.jobs[i].state)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Job, K};

    /// As `avx2::run_group`, sixteen lanes wide: rotations and the round functions are
    /// one instruction each (vprold, vpternlogd).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run_group(jobs: &mut [Job], group: &[usize]) {
        debug_assert!((2..=16).contains(&group.len()));
        let mut lanes = [[0u32; 16]; 4];
        let mut blocks = [0usize; 16];
        for (l, &i) in group.iter().enumerate() {
            for (lane, word) in lanes.iter_mut().zip(jobs[i].state) {
                lane[l] = word;
            }
            blocks[l] = jobs[i].blocks();
        }
        // SAFETY: each `lanes[w]` is sixteen u32s.
        let mut st: [__m512i; 4] =
            std::array::from_fn(|w| unsafe { _mm512_loadu_si512(lanes[w].as_ptr().cast()) });
        let most = blocks.iter().copied().max().unwrap_or(0);
        // The round's blocks side by side, so that word w of lane l is at l*64 + w*4.
        let mut rows = [[0u8; 64]; 16];
        let offsets = _mm512_setr_epi32(
            0, 64, 128, 192, 256, 320, 384, 448, 512, 576, 640, 704, 768, 832, 896, 960,
        );
        for b in 0..most {
            let mut active: __mmask16 = 0;
            for (l, &i) in group.iter().enumerate() {
                if b < blocks[l] {
                    rows[l] = *jobs[i].block(b);
                    active |= 1 << l;
                }
            }
            let base = rows.as_ptr().cast::<i32>();
            // SAFETY: every offset plus 4 * w (w < 16) stays inside `rows` (1024 octets).
            let m: [__m512i; 16] = std::array::from_fn(|w| unsafe {
                _mm512_i32gather_epi32::<1>(offsets, base.add(w).cast())
            });
            let next = rounds(st, &m);
            for w in 0..4 {
                st[w] = _mm512_mask_mov_epi32(st[w], active, next[w]);
            }
        }
        for w in 0..4 {
            // SAFETY: `lanes[w]` is sixteen u32s.
            unsafe { _mm512_storeu_si512(lanes[w].as_mut_ptr().cast(), st[w]) };
        }
        for (l, &i) in group.iter().enumerate() {
            jobs[i].state = [lanes[0][l], lanes[1][l], lanes[2][l], lanes[3][l]];
        }
    }

    #[target_feature(enable = "avx512f")]
    fn rounds(st: [__m512i; 4], m: &[__m512i; 16]) -> [__m512i; 4] {
        let [mut a, mut b, mut c, mut d] = st;
        // The round functions as vpternlogd truth tables over (b, c, d):
        // F = b ? c : d, G = d ? b : c, H = b ^ c ^ d, I = c ^ (b | !d).
        macro_rules! step {
            ($imm:literal, $i:expr, $s:literal) => {{
                let f = _mm512_ternarylogic_epi32::<$imm>(b, c, d);
                let t = _mm512_add_epi32(
                    _mm512_add_epi32(a, f),
                    _mm512_add_epi32(_mm512_set1_epi32(K[$i] as i32), m[super::word($i)]),
                );
                a = d;
                d = c;
                c = b;
                b = _mm512_add_epi32(b, _mm512_rol_epi32::<$s>(t));
            }};
        }
        macro_rules! four {
            ($imm:literal, $i:expr, $s0:literal, $s1:literal, $s2:literal, $s3:literal) => {
                step!($imm, $i, $s0);
                step!($imm, $i + 1, $s1);
                step!($imm, $i + 2, $s2);
                step!($imm, $i + 3, $s3);
            };
        }
        four!(0xCA, 0, 7, 12, 17, 22);
        four!(0xCA, 4, 7, 12, 17, 22);
        four!(0xCA, 8, 7, 12, 17, 22);
        four!(0xCA, 12, 7, 12, 17, 22);
        four!(0xE4, 16, 5, 9, 14, 20);
        four!(0xE4, 20, 5, 9, 14, 20);
        four!(0xE4, 24, 5, 9, 14, 20);
        four!(0xE4, 28, 5, 9, 14, 20);
        four!(0x96, 32, 4, 11, 16, 23);
        four!(0x96, 36, 4, 11, 16, 23);
        four!(0x96, 40, 4, 11, 16, 23);
        four!(0x96, 44, 4, 11, 16, 23);
        four!(0x39, 48, 6, 10, 15, 21);
        four!(0x39, 52, 6, 10, 15, 21);
        four!(0x39, 56, 6, 10, 15, 21);
        four!(0x39, 60, 6, 10, 15, 21);
        [
            _mm512_add_epi32(st[0], a),
            _mm512_add_epi32(st[1], b),
            _mm512_add_epi32(st[2], c),
            _mm512_add_epi32(st[3], d),
        ]
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Job, K};

    /// Runs up to eight jobs (`group`, ordered by block count) in the lanes of AVX2
    /// registers. A lane whose message is shorter than the others' keeps its state once
    /// its own blocks are done.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn run_group(jobs: &mut [Job], group: &[usize]) {
        debug_assert!((2..=8).contains(&group.len()));
        let mut lanes = [[0u32; 4]; 8];
        let mut blocks = [0usize; 8];
        for (l, &i) in group.iter().enumerate() {
            lanes[l] = jobs[i].state;
            blocks[l] = jobs[i].blocks();
        }
        let load = |w: usize| {
            _mm256_setr_epi32(
                lanes[0][w] as i32,
                lanes[1][w] as i32,
                lanes[2][w] as i32,
                lanes[3][w] as i32,
                lanes[4][w] as i32,
                lanes[5][w] as i32,
                lanes[6][w] as i32,
                lanes[7][w] as i32,
            )
        };
        let mut st = [load(0), load(1), load(2), load(3)];
        let most = group.iter().map(|&i| jobs[i].blocks()).max().unwrap_or(0);
        let zero = [0u8; 64];
        for b in 0..most {
            let mut rows = [&zero; 8];
            let mut active = [0i32; 8];
            for (l, &i) in group.iter().enumerate() {
                if b < blocks[l] {
                    rows[l] = jobs[i].block(b);
                    active[l] = -1;
                }
            }
            let m = transpose(&rows);
            let next = rounds(st, &m);
            // SAFETY: `active` is eight i32s.
            let mask = unsafe { _mm256_loadu_si256(active.as_ptr().cast()) };
            for w in 0..4 {
                st[w] = _mm256_blendv_epi8(st[w], next[w], mask);
            }
        }
        let mut out = [[0u32; 8]; 4];
        for w in 0..4 {
            // SAFETY: `out[w]` is eight u32s.
            unsafe { _mm256_storeu_si256(out[w].as_mut_ptr().cast(), st[w]) };
        }
        for (l, &i) in group.iter().enumerate() {
            jobs[i].state = [out[0][l], out[1][l], out[2][l], out[3][l]];
        }
    }

    /// The sixteen message words of eight blocks, word-major: `m[w]` lane `l` is word
    /// `w` of block `l`.
    #[target_feature(enable = "avx2")]
    fn transpose(rows: &[&[u8; 64]; 8]) -> [__m256i; 16] {
        let mut m = [_mm256_setzero_si256(); 16];
        for half in 0..2 {
            // SAFETY: each row is 64 octets; this reads 32 of them at offset 0 or 32.
            let r: [__m256i; 8] = std::array::from_fn(|l| unsafe {
                _mm256_loadu_si256(rows[l].as_ptr().add(half * 32).cast())
            });
            let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
            let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
            let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
            let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
            let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
            let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
            let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
            let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
            let u0 = _mm256_unpacklo_epi64(t0, t2);
            let u1 = _mm256_unpackhi_epi64(t0, t2);
            let u2 = _mm256_unpacklo_epi64(t1, t3);
            let u3 = _mm256_unpackhi_epi64(t1, t3);
            let u4 = _mm256_unpacklo_epi64(t4, t6);
            let u5 = _mm256_unpackhi_epi64(t4, t6);
            let u6 = _mm256_unpacklo_epi64(t5, t7);
            let u7 = _mm256_unpackhi_epi64(t5, t7);
            let o = half * 8;
            m[o] = _mm256_permute2x128_si256::<0x20>(u0, u4);
            m[o + 1] = _mm256_permute2x128_si256::<0x20>(u1, u5);
            m[o + 2] = _mm256_permute2x128_si256::<0x20>(u2, u6);
            m[o + 3] = _mm256_permute2x128_si256::<0x20>(u3, u7);
            m[o + 4] = _mm256_permute2x128_si256::<0x31>(u0, u4);
            m[o + 5] = _mm256_permute2x128_si256::<0x31>(u1, u5);
            m[o + 6] = _mm256_permute2x128_si256::<0x31>(u2, u6);
            m[o + 7] = _mm256_permute2x128_si256::<0x31>(u3, u7);
        }
        m
    }

    /// The 64 steps on eight states; returns the states with the block added in.
    #[target_feature(enable = "avx2")]
    fn rounds(st: [__m256i; 4], m: &[__m256i; 16]) -> [__m256i; 4] {
        let [mut a, mut b, mut c, mut d] = st;
        let ones = _mm256_set1_epi32(-1);
        macro_rules! step {
            ($f:expr, $i:expr, $s:literal) => {{
                let t = _mm256_add_epi32(
                    _mm256_add_epi32(a, $f),
                    _mm256_add_epi32(_mm256_set1_epi32(K[$i] as i32), m[super::word($i)]),
                );
                let r = _mm256_or_si256(
                    _mm256_slli_epi32::<$s>(t),
                    _mm256_srli_epi32::<{ 32 - $s }>(t),
                );
                a = d;
                d = c;
                c = b;
                b = _mm256_add_epi32(b, r);
            }};
        }
        macro_rules! f {
            () => {
                _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
            };
        }
        macro_rules! g {
            () => {
                _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
            };
        }
        macro_rules! h {
            () => {
                _mm256_xor_si256(_mm256_xor_si256(b, c), d)
            };
        }
        macro_rules! i {
            () => {
                _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)))
            };
        }
        macro_rules! four {
            ($fun:ident, $i:expr, $s0:literal, $s1:literal, $s2:literal, $s3:literal) => {
                step!($fun!(), $i, $s0);
                step!($fun!(), $i + 1, $s1);
                step!($fun!(), $i + 2, $s2);
                step!($fun!(), $i + 3, $s3);
            };
        }
        four!(f, 0, 7, 12, 17, 22);
        four!(f, 4, 7, 12, 17, 22);
        four!(f, 8, 7, 12, 17, 22);
        four!(f, 12, 7, 12, 17, 22);
        four!(g, 16, 5, 9, 14, 20);
        four!(g, 20, 5, 9, 14, 20);
        four!(g, 24, 5, 9, 14, 20);
        four!(g, 28, 5, 9, 14, 20);
        four!(h, 32, 4, 11, 16, 23);
        four!(h, 36, 4, 11, 16, 23);
        four!(h, 40, 4, 11, 16, 23);
        four!(h, 44, 4, 11, 16, 23);
        four!(i, 48, 6, 10, 15, 21);
        four!(i, 52, 6, 10, 15, 21);
        four!(i, 56, 6, 10, 15, 21);
        four!(i, 60, 6, 10, 15, 21);
        [
            _mm256_add_epi32(st[0], a),
            _mm256_add_epi32(st[1], b),
            _mm256_add_epi32(st[2], c),
            _mm256_add_epi32(st[3], d),
        ]
    }
}

#[cfg(test)]
mod tests {
    use md5::{Digest, Md5};

    use super::*;

    fn oracle(prefix: &[u8], data: &[u8]) -> [u8; 16] {
        let mut h = Md5::new();
        h.update(prefix);
        h.update(data);
        h.finalize().into()
    }

    #[test]
    fn rfc1321_test_suite() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        let mut lanes = Lanes::new();
        for (msg, _) in cases {
            lanes.push(INIT, 0).1.extend_from_slice(msg);
        }
        lanes.run();
        for (i, (_, want)) in cases.iter().enumerate() {
            assert_eq!(hex::encode(lanes.digest(i)), *want, "case {i}");
        }
    }

    /// Lanes of every length mix (0 to 300 octets, so 1 to 6 blocks), more jobs than
    /// lanes, some continuing from a prefix state: each equals the md-5 crate's answer.
    #[test]
    fn mixed_lengths_and_prefix_states_match_the_md5_crate() {
        let prefix = [0x5cu8; 64];
        let mut after_prefix = INIT;
        compress(&mut after_prefix, &prefix);
        let mut lanes = Lanes::new();
        for round in 0..3 {
            lanes.clear();
            let mut want = Vec::new();
            for n in (0..300).step_by(7 + round) {
                let data: Vec<u8> = (0..n).map(|i| (i * 31 + n + round) as u8).collect();
                if n % 3 == 0 {
                    lanes.push(after_prefix, 64).1.extend_from_slice(&data);
                    want.push(oracle(&prefix, &data));
                } else {
                    lanes.push(INIT, 0).1.extend_from_slice(&data);
                    want.push(oracle(&[], &data));
                }
            }
            lanes.run();
            assert_eq!(lanes.len(), want.len());
            for (i, w) in want.iter().enumerate() {
                assert_eq!(&lanes.digest(i), w, "round {round} job {i}");
            }
        }
    }

    /// The scalar core alone (what a CPU without AVX2 runs) agrees with the lanes.
    #[test]
    fn the_scalar_core_alone_gives_the_same_digests() {
        let mut wide = Lanes::new();
        let mut narrow = Lanes::new();
        for n in 0..200usize {
            let data: Vec<u8> = (0..n).map(|i| (i ^ n) as u8).collect();
            wide.push(INIT, 0).1.extend_from_slice(&data);
            narrow.push(INIT, 0).1.extend_from_slice(&data);
        }
        wide.run();
        narrow.run_with(Width::Scalar);
        for i in 0..200 {
            assert_eq!(wide.digest(i), narrow.digest(i), "job {i}");
            assert_eq!(narrow.state(i), wide.state(i));
        }
    }

    /// Each width the CPU has gives the md-5 crate's digests, for 1 to 40 jobs (so every
    /// mix of full and partial groups) of lengths 0 to 200.
    #[test]
    fn every_width_matches_the_md5_crate() {
        let widths = [Width::Scalar, Width::Avx2, Width::Avx512]
            .into_iter()
            .filter(|w| *w <= Width::detect());
        for width in widths {
            for jobs in 1..=40usize {
                let mut lanes = Lanes::new();
                let mut want = Vec::new();
                for j in 0..jobs {
                    let n = (j * 37 + jobs) % 201;
                    let data: Vec<u8> = (0..n).map(|i| (i * 13 + j) as u8).collect();
                    lanes.push(INIT, 0).1.extend_from_slice(&data);
                    want.push(oracle(&[], &data));
                }
                lanes.run_with(width);
                for (j, w) in want.iter().enumerate() {
                    assert_eq!(&lanes.digest(j), w, "{width:?}, {jobs} jobs, job {j}");
                }
            }
        }
    }

    #[test]
    fn one_job_runs_on_the_scalar_core() {
        let mut lanes = Lanes::new();
        lanes.push(INIT, 0).1.extend_from_slice(b"abc");
        lanes.run();
        assert_eq!(lanes.digest(0), oracle(&[], b"abc"));
    }
}
