// dnnx GEMM engine, INTERNAL header: dispatch state, packing and the macro-kernel.
// Built for baseline x86-64 (never included by a kernel_<isa>.cpp).
#pragma once
#include "dnnx/activations.hpp"
#include "dnnx/dispatch.hpp"
#include "dnnx/gemm.hpp"
#include "kernel.hpp"

namespace dnnx::blis {

/// Id of the active kernel set: the active Isa (dnnx/dispatch.hpp), chosen at first use.
/// Throws std::runtime_error if DNNX_KERNEL names a kernel that cannot run.
inline int active_kernel_id() { return static_cast<int>(active_isa()); }
/// The kernel set of an Isa id (kernel_sets.cpp).
const KernelSet& kernel_set(int id);

/// The kernel of set s for T and products n columns wide (the narrow one for n <= NR/2).
template <class T> const KernelDesc<T>& desc(const KernelSet& s, index_t n);
template <>
inline const KernelDesc<float>& desc<float>(const KernelSet& s, index_t n) {
  return s.f32_narrow.ukr_rows && 2 * n <= s.f32.NR ? s.f32_narrow : s.f32;
}
template <>
inline const KernelDesc<double>& desc<double>(const KernelSet& s, index_t n) {
  return s.f64_narrow.ukr_rows && 2 * n <= s.f64.NR ? s.f64_narrow : s.f64;
}

/// Pack the mc x kc block of op(A) at `a` (already offset to the block's first element)
/// into ceil(mc/MR) MR-tall micro-panels of MR*kc values each: element (i,p) of panel r
/// goes to dst[r*MR*kc + p*MR + i]; rows past mc are zero.
template <class T>
void pack_a(Trans ta, index_t mc, index_t kc, const T* a, index_t lda, int MR, T* dst);

/// Pack the kc x nc block of op(B) at `b` into ceil(nc/NR) NR-wide micro-panels of NR*kc
/// values each, panels [q0, q1) only: element (p,j) of panel q goes to
/// dst[q*NR*kc + p*NR + j]; columns past nc are zero.
template <class T>
void pack_b(Trans tb, index_t kc, index_t nc, const T* b, index_t ldb, int NR, index_t q0, index_t q1, T* dst);

/// A block of op(A) (mc x kc) or op(B) (kc x nc) as the micro-kernel reads it: panel r
/// starts at ptr + r*panel_stride; inside it A element (i,p) is at [i*rs + p*cs] and B row
/// p at [p*rs]. For B, a last partial panel is read from `edge` instead when it is set
/// (packed, zero-padded, rs = NR), because B read in place has no padding columns.
template <class T>
struct Operand {
  const T* ptr = nullptr;
  index_t rs = 0, cs = 0, panel_stride = 0;
  const T* edge = nullptr;
};

/// What the macro-kernel applies to the tiles of one k-block.
template <class T>
struct BlockEpilogue {
  T alpha, beta;           ///< beta: the caller's beta for the first k-block, 1 after it
  bool last;               ///< last k-block: apply bias, preact and activation
  const T* bias;           ///< at the block's first column, or nullptr
  T* preact;               ///< at the block's first element, or nullptr
  index_t ldp;
  ActParams act;
};

/// C[0:mc, q0*NR : min(q1*NR, nc)] (op)= A-block * B-panels [q0, q1). See macro_kernel.cpp.
template <class T>
void macro_kernel(const KernelDesc<T>& kd, index_t mc, index_t nc, index_t kc, index_t q0, index_t q1,
                  const Operand<T>& a, const Operand<T>& b, T* c, index_t ldc, const BlockEpilogue<T>& ep);

}  // namespace dnnx::blis
