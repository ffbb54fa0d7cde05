// The macro-kernel: the jr / ir loops over micro-tiles of one (ic, pc, jc) block (BLIS
// bli_gemm_ker_var2).
#include <algorithm>
#include <cstdint>

#include "engine.hpp"

namespace dnnx::blis {

// Assumptions:
//   - a describes an mc x kc block of op(A) as ceil(mc/MR) MR-tall panels (Operand): packed
//     (rs = 1, cs = MR, panel_stride = MR*kc) or read in place (any rs/cs). A last panel
//     of mr < MR rows goes to ukr_rows[mr - 1], which reads and writes only those rows.
//   - b describes the kc x nc block of op(B) as NR-wide panels whose rows hold NR
//     contiguous values: packed (rs = NR, panel_stride = NR*kc) or row-major B in place
//     (rs = ldb, panel_stride = NR); b.edge as for a. Only panels [q0, q1) are touched.
//   - Nothing is assumed about C (row-major, any ldc, any alignment). Full tiles are
//     written in place (tiles of fewer rows too); tiles narrower than NR go through a
//     stack buffer, so the micro-kernel always computes NR columns and never touches
//     memory outside C.
//   - ep.beta == 0 means C is not read. bias/preact/activation apply on the last k-block
//     only; relu runs in registers, other elementwise activations on the tile while it is
//     still in L1.
// Loop order: jr outer, ir inner, so the KC x NR B micro-panel stays in L1 while the A
// panels stream from L2.
template <class T>
void macro_kernel(const KernelDesc<T>& kd, index_t mc, index_t nc, index_t kc, index_t q0, index_t q1,
                  const Operand<T>& a, const Operand<T>& b, T* c, index_t ldc, const BlockEpilogue<T>& ep) {
  const int MR = kd.MR, NR = kd.NR;
  const index_t n_ir = (mc + MR - 1) / MR;
  const bool relu = ep.last && ep.act.kind == Act::relu;
  const bool other_act = ep.last && ep.act.kind != Act::relu && ep.act.kind != Act::linear;
  alignas(64) T c_edge[kMaxMR * kMaxNR];
  alignas(64) T p_edge[kMaxMR * kMaxNR];
  alignas(64) T bias_edge[kMaxNR];

  index_t q = q0;
  // Skinny block (one panel of at most wide_rows rows): G full panels at a time through the
  // wide kernel (bitwise the same per element), the rest below.
  if (kd.ukr_wide && mc <= kd.wide_rows) {
    const int G = kd.wide_panels[mc - 1];
    const WideKernel<T> wkr = kd.ukr_wide[mc - 1];
    const index_t q_full = std::min<index_t>(q1, nc / NR);  // panels with NR real columns
    T* pt0 = ep.last && ep.preact ? ep.preact : nullptr;
    // Row-major B read in place whose rows share one misalignment (NumPy aligns to 16
    // bytes): 1-2 rows are bound by streaming B, so they read it by aligned vectors.
    int shift = 0;
    if (mc <= kd.wide_shift_rows && b.panel_stride == NR && b.rs != NR &&
        (b.rs * index_t(sizeof(T))) % kd.vec_bytes == 0) {
      const auto addr = reinterpret_cast<std::uintptr_t>(b.ptr);
      if (addr % sizeof(T) == 0) shift = static_cast<int>(addr % unsigned(kd.vec_bytes) / sizeof(T));
    }
    for (; q + G <= q_full; q += G) {
      const index_t j = q * NR;
      TileEpilogue<T> te{ep.alpha, ep.beta, ep.last && ep.bias ? ep.bias + j : nullptr, pt0 ? pt0 + j : nullptr,
                         ep.ldp, relu};
      if (shift)
        kd.ukr_wide_shift[mc - 1](kc, a.ptr, a.rs, a.cs, b.ptr + q * b.panel_stride, b.rs, b.panel_stride, c + j, ldc,
                                  te, shift);
      else
        wkr(kc, a.ptr, a.rs, a.cs, b.ptr + q * b.panel_stride, b.rs, b.panel_stride, c + j, ldc, te);
      if (other_act) act_forward(ep.act, mc, G * NR, c + j, ldc, c + j, ldc);
    }
  }
  for (; q < q1; ++q) {
    const index_t j = q * NR;
    const index_t nr = std::min<index_t>(NR, nc - j);
    const bool b_edge = nr < NR && b.edge;
    const T* bp = b_edge ? b.edge : b.ptr + q * b.panel_stride;
    const index_t rs_b = b_edge ? NR : b.rs;
    const T* bias = ep.last && ep.bias ? ep.bias + j : nullptr;
    if (bias && nr < NR) {
      std::fill(bias_edge, bias_edge + NR, T(0));
      std::copy(bias, bias + nr, bias_edge);
      bias = bias_edge;
    }
    for (index_t r = 0; r < n_ir; ++r) {
      const index_t i = r * MR;
      const index_t mr = std::min<index_t>(MR, mc - i);
      const T* ap = a.ptr + r * a.panel_stride;
      const index_t rs_a = a.rs, cs_a = a.cs;
      T* ct = c + i * ldc + j;
      T* pt = ep.last && ep.preact ? ep.preact + i * ep.ldp + j : nullptr;
      TileEpilogue<T> te{ep.alpha, ep.beta, bias, pt, ep.ldp, relu};
      // Only the rows that exist; an edge panel of at most NR/4 or NR/2 columns, only that
      // part of the tile (the same bits per element: kernel.hpp).
      const MicroKernel<T> ukr = kd.ukr_rows_quarter && 4 * nr <= NR ? kd.ukr_rows_quarter[mr - 1]
                                 : kd.ukr_rows_half && 2 * nr <= NR  ? kd.ukr_rows_half[mr - 1]
                                                                     : kd.ukr_rows[mr - 1];
      if (nr == NR) {
        ukr(kc, ap, rs_a, cs_a, bp, rs_b, ct, ldc, te);
      } else {
        if (ep.beta != T(0)) {
          for (index_t ii = 0; ii < mr; ++ii) {
            std::copy(ct + ii * ldc, ct + ii * ldc + nr, c_edge + ii * NR);
            std::fill(c_edge + ii * NR + nr, c_edge + (ii + 1) * NR, T(0));
          }
        }
        te.preact = pt ? p_edge : nullptr;
        te.ldp = NR;
        ukr(kc, ap, rs_a, cs_a, bp, rs_b, c_edge, NR, te);
        for (index_t ii = 0; ii < mr; ++ii) {
          std::copy(c_edge + ii * NR, c_edge + ii * NR + nr, ct + ii * ldc);
          if (pt) std::copy(p_edge + ii * NR, p_edge + ii * NR + nr, pt + ii * ep.ldp);
        }
      }
      if (other_act) act_forward(ep.act, mr, nr, ct, ldc, ct, ldc);
    }
  }
}

template void macro_kernel<float>(const KernelDesc<float>&, index_t, index_t, index_t, index_t, index_t,
                                  const Operand<float>&, const Operand<float>&, float*, index_t,
                                  const BlockEpilogue<float>&);
template void macro_kernel<double>(const KernelDesc<double>&, index_t, index_t, index_t, index_t, index_t,
                                   const Operand<double>&, const Operand<double>&, double*, index_t,
                                   const BlockEpilogue<double>&);

}  // namespace dnnx::blis
