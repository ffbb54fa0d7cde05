// Packing: copy blocks of op(A) / op(B) into the micro-panel layouts of kernel.hpp.
// Both layouts of each operand are read in place (a transpose is only a different loop),
// and edge panels are zero-padded so the micro-kernel always computes a full tile.
// The inner loops are specialised on MR / NR so the compiler unrolls and vectorises them;
// a kernel with a new MR or NR adds its case below.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dnnx::blis {
namespace {

// dst[p * R + r] = src[r * ld + p] for r < R, p < kc: the transposing copy behind panels of
// row-major A and of transposed B. Done as 4 x 4 (float) / 2 x 2 (double) register
// transposes, so every load and store moves a vector instead of one element (a scalar
// copy here cost ~10% of a 128 x 784 x 512 NT product). Pure data movement: the packed
// values are bit-for-bit those of the scalar loop.
template <class T, int R>
void transpose_panel(index_t kc, const T* src, index_t ld, T* dst) {
  int r = 0;
  index_t p_done = 0;
#if defined(__SSE2__)
  if constexpr (sizeof(T) == 4) {
    const index_t p4 = kc / 4 * 4;
    for (; r + 4 <= R; r += 4) {
      const float* s0 = reinterpret_cast<const float*>(src) + r * ld;
      float* d = reinterpret_cast<float*>(dst) + r;
      for (index_t p = 0; p < p4; p += 4) {
        __m128 x0 = _mm_loadu_ps(s0 + p), x1 = _mm_loadu_ps(s0 + ld + p);
        __m128 x2 = _mm_loadu_ps(s0 + 2 * ld + p), x3 = _mm_loadu_ps(s0 + 3 * ld + p);
        _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
        _mm_storeu_ps(d + p * R, x0);
        _mm_storeu_ps(d + (p + 1) * R, x1);
        _mm_storeu_ps(d + (p + 2) * R, x2);
        _mm_storeu_ps(d + (p + 3) * R, x3);
      }
    }
    p_done = p4;
  } else {
    const index_t p2 = kc / 2 * 2;
    for (; r + 2 <= R; r += 2) {
      const double* s0 = reinterpret_cast<const double*>(src) + r * ld;
      double* d = reinterpret_cast<double*>(dst) + r;
      for (index_t p = 0; p < p2; p += 2) {
        const __m128d x0 = _mm_loadu_pd(s0 + p), x1 = _mm_loadu_pd(s0 + ld + p);
        _mm_storeu_pd(d + p * R, _mm_unpacklo_pd(x0, x1));
        _mm_storeu_pd(d + (p + 1) * R, _mm_unpackhi_pd(x0, x1));
      }
    }
    p_done = p2;
  }
#endif
  // Rows the vector blocks did not cover (all of them without SSE2), then the k tail.
  for (int rr = r; rr < R; ++rr)
    for (index_t p = 0; p < p_done; ++p) dst[p * R + rr] = src[rr * ld + p];
  for (index_t p = p_done; p < kc; ++p)
    for (int rr = 0; rr < R; ++rr) dst[p * R + rr] = src[rr * ld + p];
}

template <class T, int MR>
void pack_a_panel(Trans ta, index_t mr, index_t kc, const T* a, index_t lda, T* dst) {
  if (mr == MR && ta == Trans::T) {  // rows of the stored k x m matrix: MR contiguous values
    for (index_t p = 0; p < kc; ++p) std::memcpy(dst + p * MR, a + p * lda, MR * sizeof(T));
  } else if (mr == MR) {             // row-major A: a small transpose, MR source rows at once
    transpose_panel<T, MR>(kc, a, lda, dst);
  } else {
    for (index_t p = 0; p < kc; ++p)
      for (int i = 0; i < MR; ++i)
        dst[p * MR + i] = i < mr ? (ta == Trans::N ? a[i * lda + p] : a[p * lda + i]) : T(0);
  }
}

// dst[0 .. NR) = 0 in unrolled 16-byte stores (a plain loop became `rep stos`: ~20 cycles
// per row, 1 x 20 x 784 took 5x as long as 1 x 32 x 784).
template <class T, int NR>
inline void zero_row(T* d) {
#if defined(__SSE2__)
#pragma GCC unroll 16
  for (int z = 0; z < NR; z += 16 / int(sizeof(T))) _mm_storeu_si128(reinterpret_cast<__m128i*>(d + z), _mm_setzero_si128());
#else
  for (int z = 0; z < NR; ++z) d[z] = T(0);
#endif
}

// Panels [q0, q1) of the kc x nc block of op(B) (see pack_b in engine.hpp).
//   Row-major B: the full panels row by row, each source row read once, front to back, and
//   scattered to its panels with a fixed-size memcpy (inlined vector moves; an element loop
//   compiled to scalar movss, as source and destination may alias). Panel by panel the copy
//   walked down B with a stride of ldb, which defeats the hardware prefetchers: every row
//   was a cache miss from L3, and packing took 14% of a 128 x 512 x 784 product.
//   Transposed B: NR source rows at once through transpose_panel.
//   The edge panel (nr < NR columns): the nr values of each row, zeros after them.
template <class T, int NR>
void pack_b_block(Trans tb, index_t kc, index_t nc, const T* b, index_t ldb, index_t q0, index_t q1, T* dst) {
  const index_t q_full = std::max(q0, std::min(q1, nc / NR));  // panels with NR real columns
  if (tb == Trans::N) {
    for (index_t p = 0; p < kc; ++p)
      for (index_t q = q0; q < q_full; ++q) std::memcpy(dst + q * NR * kc + p * NR, b + p * ldb + q * NR, NR * sizeof(T));
  } else {
    for (index_t q = q0; q < q_full; ++q) transpose_panel<T, NR>(kc, b + q * NR * ldb, ldb, dst + q * NR * kc);
  }
  if (q_full == q1) return;
  const index_t j0 = q_full * NR, nr = nc - j0;
  T* d0 = dst + q_full * NR * kc;
  for (index_t p = 0; p < kc; ++p) zero_row<T, NR>(d0 + p * NR);
  if (tb == Trans::N) {
    constexpr index_t V = 16 / index_t(sizeof(T));  // 16-byte pieces, then single values
    for (index_t p = 0; p < kc; ++p) {
      const T* src = b + p * ldb + j0;
      T* d = d0 + p * NR;
      index_t j = 0;
      for (; j + V <= nr; j += V) std::memcpy(d + j, src + j, 16);
      for (; j < nr; ++j) d[j] = src[j];
    }
  } else {
    for (index_t j = 0; j < nr; ++j)
      for (index_t p = 0; p < kc; ++p) d0[p * NR + j] = b[(j0 + j) * ldb + p];
  }
}

template <class T>
using APanelFn = void (*)(Trans, index_t, index_t, const T*, index_t, T*);

template <class T>
APanelFn<T> a_panel_fn(int MR) {
  switch (MR) {
    case 4: return &pack_a_panel<T, 4>;
    case 6: return &pack_a_panel<T, 6>;
    case 12: return &pack_a_panel<T, 12>;
    default: throw std::logic_error("pack_a: no packing routine for MR = " + std::to_string(MR));
  }
}

template <class T>
using BBlockFn = void (*)(Trans, index_t, index_t, const T*, index_t, index_t, index_t, T*);

template <class T>
BBlockFn<T> b_block_fn(int NR) {
  switch (NR) {
    case 8: return &pack_b_block<T, 8>;
    case 16: return &pack_b_block<T, 16>;
    case 32: return &pack_b_block<T, 32>;
    default: throw std::logic_error("pack_b: no packing routine for NR = " + std::to_string(NR));
  }
}

}  // namespace

template <class T>
void pack_a(Trans ta, index_t mc, index_t kc, const T* a, index_t lda, int MR, T* dst) {
  const APanelFn<T> fn = a_panel_fn<T>(MR);
  for (index_t i = 0; i < mc; i += MR) {
    const T* src = ta == Trans::N ? a + i * lda : a + i;
    fn(ta, std::min<index_t>(MR, mc - i), kc, src, lda, dst);
    dst += MR * kc;
  }
}

template <class T>
void pack_b(Trans tb, index_t kc, index_t nc, const T* b, index_t ldb, int NR, index_t q0, index_t q1, T* dst) {
  if (q0 < q1) b_block_fn<T>(NR)(tb, kc, nc, b, ldb, q0, q1, dst);
}

template void pack_a<float>(Trans, index_t, index_t, const float*, index_t, int, float*);
template void pack_a<double>(Trans, index_t, index_t, const double*, index_t, int, double*);
template void pack_b<float>(Trans, index_t, index_t, const float*, index_t, int, index_t, index_t, float*);
template void pack_b<double>(Trans, index_t, index_t, const double*, index_t, int, index_t, index_t, double*);

}  // namespace dnnx::blis
