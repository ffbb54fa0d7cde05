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

template <class T, int NR>
void pack_b_panel(Trans tb, index_t nr, index_t kc, const T* b, index_t ldb, T* dst) {
  if (nr == NR && tb == Trans::N) {
    for (index_t p = 0; p < kc; ++p) std::memcpy(dst + p * NR, b + p * ldb, NR * sizeof(T));
  } else if (nr == NR) {             // transposed B: NR source rows at once
    transpose_panel<T, NR>(kc, b, ldb, dst);
  } else if (tb == Trans::N) {  // edge panel of row-major B: nr values per row, then zeros
    for (index_t p = 0; p < kc; ++p) {
      const T* src = b + p * ldb;
      T* d = dst + p * NR;
      // Zeros, then the nr values, in 16-byte pieces: unrolled vector moves. (A plain loop
      // became `rep stos` + a per-element copy: ~20 cycles per row, 1 x 20 x 784 took 5x
      // as long as 1 x 32 x 784.)
      constexpr index_t V = 16 / index_t(sizeof(T));
#if defined(__SSE2__)
#pragma GCC unroll 16
      for (int z = 0; z < NR; z += int(V)) _mm_storeu_si128(reinterpret_cast<__m128i*>(d + z), _mm_setzero_si128());
#else
      for (int z = 0; z < NR; ++z) d[z] = T(0);
#endif
      index_t j = 0;
      for (; j + V <= nr; j += V) std::memcpy(d + j, src + j, 16);
      for (; j < nr; ++j) d[j] = src[j];
    }
  } else {                           // edge panel of transposed B: nr source rows
    for (index_t p = 0; p < kc; ++p) {
      T* d = dst + p * NR;
#if defined(__SSE2__)
#pragma GCC unroll 16
      for (int z = 0; z < NR; z += 16 / int(sizeof(T))) _mm_storeu_si128(reinterpret_cast<__m128i*>(d + z), _mm_setzero_si128());
#else
      for (int z = 0; z < NR; ++z) d[z] = T(0);
#endif
    }
    for (index_t j = 0; j < nr; ++j)
      for (index_t p = 0; p < kc; ++p) dst[p * NR + j] = b[j * ldb + p];
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
APanelFn<T> b_panel_fn(int NR) {
  switch (NR) {
    case 8: return &pack_b_panel<T, 8>;
    case 16: return &pack_b_panel<T, 16>;
    case 32: return &pack_b_panel<T, 32>;
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

// Full panels of row-major B, row by row: each source row is read once, front to back,
// and scattered to its panels. (Panel by panel, the copy walked down B with a stride of
// ldb, which defeats the hardware prefetchers: every row was a cache miss from L3, and
// packing took 14% of a 128 x 512 x 784 product.)
template <class T, int NR>
void pack_b_rows(index_t kc, const T* b, index_t ldb, index_t q0, index_t q1, T* dst) {
  for (index_t p = 0; p < kc; ++p) {
    const T* src = b + p * ldb;
    for (index_t q = q0; q < q1; ++q) {
      const T* s = src + q * NR;
      T* d = dst + q * NR * kc + p * NR;
      std::memcpy(d, s, NR * sizeof(T));  // fixed size: inlined vector moves (a loop here
                                          // compiled to scalar movss: source and destination may alias)
    }
  }
}

template <class T>
void pack_b(Trans tb, index_t kc, index_t nc, const T* b, index_t ldb, int NR, index_t q0, index_t q1, T* dst) {
  const APanelFn<T> fn = b_panel_fn<T>(NR);
  if (tb == Trans::N) {
    const index_t qf = std::max(q0, std::min(q1, nc / NR));  // panels with NR real columns
    if (qf > q0) {
      switch (NR) {
        case 8: pack_b_rows<T, 8>(kc, b, ldb, q0, qf, dst); break;
        case 16: pack_b_rows<T, 16>(kc, b, ldb, q0, qf, dst); break;
        case 32: pack_b_rows<T, 32>(kc, b, ldb, q0, qf, dst); break;
        default: throw std::logic_error("pack_b: no packing routine for NR = " + std::to_string(NR));
      }
    }
    q0 = qf;
  }
  for (index_t q = q0; q < q1; ++q) {
    const index_t j = q * NR;
    const T* src = tb == Trans::N ? b + j : b + j * ldb;
    fn(tb, std::min<index_t>(NR, nc - j), kc, src, ldb, dst + q * NR * kc);
  }
}

template void pack_a<float>(Trans, index_t, index_t, const float*, index_t, int, float*);
template void pack_a<double>(Trans, index_t, index_t, const double*, index_t, int, double*);
template void pack_b<float>(Trans, index_t, index_t, const float*, index_t, int, index_t, index_t, float*);
template void pack_b<double>(Trans, index_t, index_t, const double*, index_t, int, index_t, index_t, double*);

}  // namespace dnnx::blis
