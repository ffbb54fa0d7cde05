// dnnx GEMM engine, INTERNAL header: the micro-kernel contract (see BLIS docs/KernelsHowTo.md).
//
// A micro-kernel computes one full MR x NR tile of C from a k-long sliver of op(A) and of
// op(B). It has no loops over m or n and no edge cases: the engine zero-pads edge panels
// to MR/NR and routes edge tiles of C through a small stack buffer.
//
//                              b: k x NR sliver, row p at b + p*rs_b, NR contiguous values
//                                 (packed: rs_b = NR, one "NR-wide micro-panel")
//                              +---------------------------+
//                              | b(0,0)  b(0,1) ... b(0,NR-1)
//                              | b(1,0)  ...               |  k rows
//                              | ...                       |
//                              +---------------------------+
//   a: MR x k sliver
//   element (i,p) at a[i*rs_a + p*cs_a]    C tile: MR x NR, c[i*ldc + j], row-major,
//   (packed: rs_a = 1, cs_a = MR, one         any ldc, no alignment assumed
//    "MR-tall micro-panel": column p is    +---------------------------+
//    MR contiguous values)                 |                           |
//   +---------------+                      |  C = alpha * a*b          |  MR rows
//   | a(0,0) a(0,1) ...  k columns         |      + beta * C           |
//   | a(1,0)        |                      |      (+ bias, relu)       |
//   | ...           |                      +---------------------------+
//   +---------------+                                NR columns
//
// A is read by broadcasting single elements, so any (rs_a, cs_a) works: the engine passes
// unpacked row-major (rs_a = lda, cs_a = 1) or column-major (rs_a = 1, cs_a = lda) A
// directly when packing would cost more than it saves (small m). B rows must hold NR
// contiguous values (packed, or row-major B read in place).
//
// The tile epilogue runs once, after the k loop:
//   v = alpha * acc + (beta != 0 ? beta * C : 0)     beta == 0: C is never read
//   v += bias[j]                                     (bias != nullptr)
//   preact[i*ldp + j] = v                            (preact != nullptr)
//   C = relu ? max(v, 0) : v
// The engine passes bias/preact/relu only with the last k-block; other activations are
// applied by the macro-kernel to the tile while it is still in L1.
//
// Kernel translation units (kernel_<isa>.cpp) include only <immintrin.h> and this header
// and keep everything in an anonymous namespace: no inline function compiled with
// AVX-512 flags can then win at link time and crash an older CPU with SIGILL.
#pragma once
#include "dnnx/common.hpp"

namespace dnnx::blis {

template <class T>
struct TileEpilogue {
  T alpha = T(1);
  T beta = T(0);             ///< 0: C is overwritten without being read
  const T* bias = nullptr;   ///< NR values, added to every row
  T* preact = nullptr;       ///< receives the tile before relu (row stride ldp)
  index_t ldp = 0;
  bool relu = false;
};

template <class T>
using MicroKernel = void (*)(index_t k, const T* a, index_t rs_a, index_t cs_a, const T* b, index_t rs_b, T* c,
                             index_t ldc, const TileEpilogue<T>& ep);

/// Wide ("gemv-like") micro-kernel for skinny products (m = 1..wide_rows): R rows x G*NR
/// columns, i.e. G adjacent full NR-wide B panels at once, so that even one row of A keeps
/// 2*G accumulator vectors busy (one row x NR columns is FMA-latency bound) and B streams
/// as G long runs. Panel g row p is at b + g*gs_b + p*rs_b (packed: gs_b = NR*kc,
/// rs_b = NR; row-major B in place: gs_b = NR, rs_b = ldb). C, bias and preact cover
/// G*NR contiguous columns. Every element sees exactly the arithmetic of ukr_rows (one FMA
/// chain over p from zero, then the same tile epilogue), so results are bitwise identical
/// to the narrow path whatever mix of the two computes a product.
template <class T>
using WideKernel = void (*)(index_t k, const T* a, index_t rs_a, index_t cs_a, const T* b, index_t rs_b,
                            index_t gs_b, T* c, index_t ldc, const TileEpilogue<T>& ep);

/// WideKernel for row-major B read in place (gs_b = NR) whose rows all begin `shift`
/// elements (0 < shift < vector width) past a vector boundary: aligned loads only, bitwise
/// the result of the WideKernel with the same rows and panels.
template <class T>
using WideShiftKernel = void (*)(index_t k, const T* a, index_t rs_a, index_t cs_a, const T* b, index_t rs_b,
                                 index_t gs_b, T* c, index_t ldc, const TileEpilogue<T>& ep, int shift);

/// A micro-kernel and the cache block sizes it was tuned with, registered together (BLIS
/// cntx_init): MR x NR register tile; KC x NR B micro-panel kept in L1; MC x KC packed A
/// block kept in L2; KC x NC packed B block kept in L3.
/// ukr_rows[r - 1] computes only the first r rows of the tile (r = 1..MR; ukr_rows[MR - 1]
/// is the full kernel): edge row panels and skinny products (batch 1..MR-1) then neither
/// compute nor read rows that do not exist, so A can be read in place without padding.
/// ukr_wide[r - 1] (r = 1..wide_rows, optional) handles wide_panels[r - 1] panels at once.
/// KC_wide (optional, 0: KC) replaces KC for products at least kWideKcMinN columns wide,
/// whose C no longer stays in cache between k-blocks: fewer passes over C. The choice
/// depends on n and k only, never on m, so a row computed alone (batch 1) gets the same
/// k-blocks, hence the same bits, as inside a tall product.
template <class T>
struct KernelDesc {
  const MicroKernel<T>* ukr_rows;
  int MR, NR;
  index_t MC, KC, NC;
  const WideKernel<T>* ukr_wide = nullptr;
  const int* wide_panels = nullptr;
  int wide_rows = 0;
  index_t KC_wide = 0;
  const WideShiftKernel<T>* ukr_wide_shift = nullptr;  ///< optional: rows 1..wide_shift_rows, panels as ukr_wide
  int wide_shift_rows = 0;
  int vec_bytes = 0;  ///< vector width of ukr_wide_shift in bytes (the alignment it restores)
  /// Optional: ukr_rows computing only the first NR/2 columns of the tile (half the vectors),
  /// from the same NR-wide B panel (rs_b unchanged). An edge panel of at most NR/2 real
  /// columns (n = 100 against NR = 32 leaves 4) then computes 16 columns instead of 32.
  /// Per element the same FMA chain and epilogue as ukr_rows: the same bits.
  const MicroKernel<T>* ukr_rows_half = nullptr;
  /// Optional: the same for the first NR/4 columns, in vectors of that width (AVX-512: 8
  /// floats in a ymm register). Zen 4 runs a 512-bit FMA as two 256-bit halves, so an edge
  /// of at most NR/4 columns costs half as much in ymm; elsewhere the cost is the same.
  const MicroKernel<T>* ukr_rows_quarter = nullptr;
};
constexpr index_t kWideKcMinN = 1024;

/// Column-vector micro-kernel for op(A) = A^T (A stored k x m) with a narrow n (<= max_n,
/// e.g. a 10-class weight gradient): vectorised along i instead of j, so a 32 x 10 tile
/// uses every lane (a row tile would compute 16 columns for 10). Computes rows
/// [0, mr) (mr <= MR, loads past mr are masked) and all n columns of C:
///   acc(i, j) = sum_p a[p*lda + i] * b[p*rs_b + j*cs_b]   (one FMA chain over p from zero)
/// followed by exactly the TileEpilogue of kernel.hpp (bias: n values; preact row stride
/// ldp), so every element gets the bits of the ordinary micro-kernel.
template <class T>
using ColKernel = void (*)(index_t k, index_t mr, index_t n, const T* a, index_t lda, const T* b, index_t rs_b,
                           index_t cs_b, T* c, index_t ldc, const TileEpilogue<T>& ep);
/// Transposing pack for op(A) = A: rows [0, mr) (mr <= MR) of a row-major tile (k values
/// each, row stride lda) into dst[p * MR + i], rows past mr zero: the layout ColKernel
/// reads with lda = MR. It lets the column kernel serve narrow forward products too (the
/// 10-class output layer), where a row tile would compute NR columns for 10.
template <class T>
using ColPack = void (*)(index_t kc, index_t mr, const T* a, index_t lda, T* dst);
template <class T>
struct ColDesc {
  ColKernel<T> ukr = nullptr;
  int MR = 0;     ///< rows per tile
  int max_n = 0;  ///< widest n handled
  ColPack<T> pack = nullptr;  ///< optional: without it, op(A) = A products use the row kernels
};

/// One instruction-set variant: float32 and float64 kernels, and optionally narrower ones
/// (NR halved) for products with n <= NR/2, where a full-width tile would mostly compute
/// padding (n = 10 class outputs against NR = 32). ukr_rows == nullptr: none.
struct KernelSet {
  const char* name;
  KernelDesc<float> f32;
  KernelDesc<double> f64;
  KernelDesc<float> f32_narrow;
  KernelDesc<double> f64_narrow;
  ColDesc<float> f32_col{};   ///< optional (ukr == nullptr: none)
  ColDesc<double> f64_col{};
};

/// Upper bounds over every kernel (stack edge buffers are sized by them).
constexpr int kMaxMR = 16;
constexpr int kMaxNR = 32;

extern const KernelSet kRefKernels;
#if defined(DNNX_HAVE_X86)
extern const KernelSet kAvx2Kernels;
extern const KernelSet kAvx512Kernels;
#endif

}  // namespace dnnx::blis
