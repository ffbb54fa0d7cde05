// GEMM front end: the BLIS loops around the macro-kernel, threading, the small-product
// path, PackedB and the serial reference.
//
//   for jc in n by NC:                     (B block: KC x NC, in L3)
//     for pc in k by KC:                   (k is never split across threads)
//       pack B block (parallel_for over disjoint panels)     -- or read row-major B in place
//       parallel_for over the cells of C (row range x column-panel range):
//         for ic in (the cell's rows) by MC:
//           pack A block (the running thread's buffer)        -- or read A in place
//           macro-kernel over (the cell's columns)            -- jr / ir / micro-kernel
//
// The threads of dnnx's pool (parallel.hpp) claim the cells of a tm x tn grid of C. Every
// element of C sees the same sequence of k-blocks and the same micro-kernel arithmetic
// whatever the grid and whichever thread runs its cell, so the result is bitwise identical
// for any thread count.
#include "dnnx/gemm.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "dnnx/parallel.hpp"
#include "engine.hpp"

namespace dnnx {
namespace blis {
namespace {

index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }
index_t round_up(index_t a, index_t b) { return ceil_div(a, b) * b; }

// k-blocks of (nearly) equal size, at most KC: k = 784 becomes 4 x 196 rather than
// 3 x 256 + 16, so no block is too short to amortise its C load/store.
index_t balanced_kc(index_t k, index_t KC) { return ceil_div(k, ceil_div(k, KC)); }

// The k-block of a product n columns wide (see KernelDesc::KC_wide): n and k decide, m never.
template <class T>
index_t block_kc(const KernelDesc<T>& kd, index_t n, index_t k) {
  return balanced_kc(k, kd.KC_wide > 0 && n >= kWideKcMinN ? kd.KC_wide : kd.KC);
}

// Per-thread scratch, grown on first use and then reused: no allocation in steady state.
template <class T>
struct Workspace {
  AlignedBuffer<T> a;       // packed A block (MC x KC)
  AlignedBuffer<T> b_edge;  // edge panel of an in-place B
  AlignedBuffer<T> b;       // packed B block, shared by the threads of one product
};
template <class T>
Workspace<T>& workspace() {
  static thread_local Workspace<T> ws;
  return ws;
}

// Each thread gets at least ~13 us of work (2 MFLOP at ~150 GFLOP/s), several times the
// cost of handing work to another thread of dnnx's pool and moving its operands between
// the cores' caches, so more threads never make a small product slower: 128^3 (4.2
// MFLOP) runs on two threads, 64^3 on one. At 3 MFLOP, 128^3 stayed on one thread and
// ran at 0.69x OpenBLAS on 2 threads (AMD EPYC Zen 3, AVX2, 7 alternating rounds); at 2
// MFLOP it is 1.41x. At 1 MFLOP the 200-row steps of the digits MLP (64-100-10, 2.6 MFLOP
// products, so one thread at 2 MFLOP) ran 1.3x slower on 2 threads than on 1 (Xeon,
// Sapphire Rapids class, 2 vCPUs, with OpenMP: 1.0 against 0.75 ms per epoch), and with
// dnnx's pool no faster (1.23 against 1.09 ms per epoch on a busy host).
constexpr double kMinFlopsPerThread = 2.0e6;
// Skinny products: at ~30 B/cycle from L2/L3, 512 KiB of B is ~4 us of streaming per
// thread, well above a fork/join on a warm pool (at 256 KiB, 1x512x256 gained little).
constexpr double kMinBytesPerThread = 512.0 * 1024.0;

template <class T>
struct Problem {
  Trans ta, tb;
  index_t m, n, k;
  T alpha;
  const T* A;
  index_t lda;
  const T* B;  // unpacked B, or nullptr when Bp is used
  index_t ldb;
  const PackedB<T>* Bp;
  T beta;
  T* C;
  index_t ldc;
  const Epilogue<T>* ep;
  int max_threads = 1 << 30;
};

struct Plan {
  bool pack_a, pack_b;
  int threads, tm, tn;
  index_t kc, nc;
};

template <class T>
Plan make_plan(const KernelDesc<T>& kd, const Problem<T>& pr) {
  Plan pl;
  const index_t m = pr.m, n = pr.n, k = pr.k;
  pl.kc = block_kc(kd, n, k);
  pl.nc = round_up(ceil_div(n, ceil_div(n, kd.NC)), kd.NR);
  // Row-major B is read in place when few row panels reuse each B panel (the copy would
  // cost as much as the product) or when all of B is small enough to stay in L2 anyway,
  // unless it is over 64 KiB with rows a multiple of 512 bytes apart: then the kc rows of
  // one micro-panel fall into at most 8 of the 64 L1 sets and evict each other (Xeon,
  // Sapphire Rapids class, best of 7 alternating runs, in place -> packed: 256^3 69.6 ->
  // 97.3 GFLOP/s on one thread; at 64 KiB, e.g. 128^3, packing gained nothing).
  const index_t b_bytes = k * n * index_t(sizeof(T));
  const bool b_aliases = pr.ldb * index_t(sizeof(T)) % 512 == 0 && b_bytes > (index_t(64) << 10);
  const bool b_fits_l2 = b_bytes <= (index_t(256) << 10) && !b_aliases;
  pl.pack_b = !(pr.tb == Trans::N && (m <= 4 * kd.MR || b_fits_l2));
  // A is read by broadcasts, so in place it costs only strided cache lines; packing pays
  // off when the A block is reused across many B panels.
  pl.pack_a = n > 4 * kd.NR && m > kd.MR;

  const index_t row_panels = ceil_div(m, kd.MR), col_panels = ceil_div(n, kd.NR);
  const double flops = 2.0 * double(m) * double(n) * double(k);
  double work = std::max(1.0, flops / kMinFlopsPerThread);
  // A skinny product (a few rows) streams B once and is bound by reading it from L2/L3, not
  // by FMAs: one more thread per kMinBytesPerThread of B (each thread reads its own columns).
  if (m <= kd.MR) work = std::max(work, double(k) * double(n) * double(sizeof(T)) / kMinBytesPerThread);
  int nt = std::min({num_threads(), pr.max_threads, static_cast<int>(work)});
  nt = static_cast<int>(std::min<index_t>(nt, row_panels * col_panels));
  // Split C into a tm x tn grid whose largest share (whole MR-row and NR-column panels) is
  // smallest: m = 128 is 11 row panels of 12, so a row split leaves one thread 68 rows and
  // the other 60, while 512 columns split into 8 + 8 panels evenly. A column split makes
  // every thread pack all of its rows of A, so it must win by 5% (row splits come first:
  // each thread packs only its own A; all threads share packed B).
  int tm = 1;
  double best = 0.0;
  for (int d = nt; d >= 1; --d) {
    if (nt % d != 0 || row_panels < d || col_panels < nt / d) continue;
    const double rows = double(std::min<index_t>(m, ceil_div(row_panels, d) * kd.MR));
    const double cols = double(std::min<index_t>(n, ceil_div(col_panels, nt / d) * kd.NR));
    if (best == 0.0 || rows * cols < best * 0.95) { best = rows * cols; tm = d; }
  }
  pl.threads = nt;
  pl.tm = tm;
  pl.tn = nt / tm;
  return pl;
}

// The rows of cell row ti of the grid (whole MR panels), walked in MC-sized steps.
struct Rows {
  index_t i0, i1, step;
};
template <class T>
Rows cell_rows(const KernelDesc<T>& kd, index_t m, const Plan& pl, int ti) {
  const index_t row_panels = ceil_div(m, kd.MR);
  Rows r;
  r.i0 = std::min(m, row_panels * ti / pl.tm * kd.MR);
  r.i1 = std::min(m, row_panels * (ti + 1) / pl.tm * kd.MR);
  const index_t mc_max = std::min<index_t>(kd.MC, r.i1 - r.i0);
  const index_t n_ic = mc_max > 0 ? ceil_div(r.i1 - r.i0, mc_max) : 0;
  r.step = n_ic > 0 ? round_up(ceil_div(r.i1 - r.i0, n_ic), kd.MR) : 0;
  return r;
}

// The blocked product. For each (jc, pc) block: pack B (threads take disjoint panels),
// then the cells of the tm x tn grid of C, each claimed by whichever thread is free (one
// cell: its rows of A packed into that thread's buffer, then the macro-kernel over its
// columns). parallel_for returns when every item is done, so the next block may overwrite
// the packed B.
template <class T>
void run_blocked(const KernelDesc<T>& kd, const Problem<T>& pr, const Plan& pl, T* b_shared) {
  const int MR = kd.MR, NR = kd.NR, nt = pl.threads, cells = pl.tm * pl.tn;
  const index_t m = pr.m, n = pr.n, k = pr.k;
  const Epilogue<T>* ep = pr.ep;

  for (index_t jc = 0; jc < n; jc += pl.nc) {
    const index_t nc = std::min(pl.nc, n - jc);
    const index_t q_all = ceil_div(nc, NR);
    // Column panels per cell; skinny products split in whole groups of the wide kernel.
    const index_t unit = kd.ukr_wide && m <= kd.wide_rows ? kd.wide_panels[m - 1] : 1;
    const index_t units = ceil_div(q_all, unit);
    for (index_t pc = 0; pc < k; pc += pl.kc) {
      const index_t kc = std::min(pl.kc, k - pc);
      Operand<T> bo;
      if (pr.Bp) {  // prepacked: block (jc, pc) starts after jc*k values of earlier jc blocks
        bo.ptr = pr.Bp->buf_.data() + jc * k + pc * round_up(nc, NR);
        bo.rs = NR;
        bo.panel_stride = NR * kc;
      } else if (pl.pack_b) {
        const T* src = pr.tb == Trans::N ? pr.B + pc * pr.ldb + jc : pr.B + jc * pr.ldb + pc;
        detail::parallel_for(nt, nt, [&](std::int64_t part) {
          pack_b(pr.tb, kc, nc, src, pr.ldb, NR, q_all * part / nt, q_all * (part + 1) / nt, b_shared);
        });
        bo.ptr = b_shared;
        bo.rs = NR;
        bo.panel_stride = NR * kc;
      } else {
        bo.ptr = pr.B + pc * pr.ldb + jc;
        bo.rs = pr.ldb;
        bo.panel_stride = NR;
      }
      const bool last = pc + kc == k;
      BlockEpilogue<T> be0{pr.alpha, pc == 0 ? pr.beta : T(1), last, ep ? ep->bias : nullptr, nullptr,
                           ep ? ep->ldp : 0, ep ? ep->act : ActParams{}};
      if (be0.bias) be0.bias += jc;
      detail::parallel_for(nt, cells, [&](std::int64_t cell) {
        const int ti = static_cast<int>(cell) / pl.tn, tj = static_cast<int>(cell) % pl.tn;
        const index_t q0 = std::min(q_all, units * tj / pl.tn * unit);
        const index_t q1 = std::min(q_all, units * (tj + 1) / pl.tn * unit);
        const Rows r = cell_rows(kd, m, pl, ti);
        if (q0 >= q1 || r.i0 >= r.i1) return;
        Workspace<T>& ws = workspace<T>();  // grows on this thread's first use only
        Operand<T> b = bo;
        if (!pr.Bp && !pl.pack_b && nc % NR != 0 && q1 == q_all) {  // in-place B: pack the edge panel
          ws.b_edge.reserve(static_cast<size_t>(NR * pl.kc));
          const index_t j_edge = (q_all - 1) * NR;
          pack_b(Trans::N, kc, nc - j_edge, b.ptr + j_edge, pr.ldb, NR, 0, 1, ws.b_edge.data());
          b.edge = ws.b_edge.data();
        }
        if (pl.pack_a) ws.a.reserve(static_cast<size_t>(round_up(std::max<index_t>(r.step, MR), MR) * pl.kc));
        BlockEpilogue<T> be = be0;
        for (index_t ic = r.i0; ic < r.i1; ic += r.step) {
          const index_t mc = std::min(r.step, r.i1 - ic);
          const T* src = pr.ta == Trans::N ? pr.A + ic * pr.lda + pc : pr.A + pc * pr.lda + ic;
          Operand<T> ao;
          if (pl.pack_a) {
            pack_a(pr.ta, mc, kc, src, pr.lda, MR, ws.a.data());
            ao = {ws.a.data(), 1, MR, MR * kc, nullptr};
          } else {
            if (pr.ta == Trans::N) ao = {src, pr.lda, 1, MR * pr.lda, nullptr};
            else ao = {src, 1, pr.lda, MR, nullptr};
          }
          be.preact = ep && ep->preact ? ep->preact + ic * ep->ldp + jc : nullptr;
          macro_kernel(kd, mc, nc, kc, q0, q1, ao, b, pr.C + ic * pr.ldc + jc, pr.ldc, be);
        }
      });
    }
  }
}

// C = act(beta*C + bias): the k == 0 / alpha == 0 product (A and B are not read).
template <class T>
void scale_only(index_t m, index_t n, T beta, T* C, index_t ldc, const Epilogue<T>* ep) {
  for (index_t i = 0; i < m; ++i) {
    T* c = C + i * ldc;
    for (index_t j = 0; j < n; ++j) {
      T v = beta == T(0) ? T(0) : beta * c[j];
      if (ep && ep->bias) v += ep->bias[j];
      c[j] = v;
    }
    if (ep && ep->preact) std::copy(c, c + n, ep->preact + i * ep->ldp);
    if (ep && ep->act.kind != Act::linear) act_forward(ep->act, 1, n, c, ldc, c, ldc);
  }
}

void check_epilogue(Act a) {
  if (act_is_rowwise(a))
    throw std::invalid_argument(std::string("gemm epilogue: activation '") + act_name(a) +
                                "' is row-wise and cannot be fused; apply it after the product");
}

template <class T> const ColDesc<T>& col_desc(const KernelSet& s);
template <> const ColDesc<float>& col_desc<float>(const KernelSet& s) { return s.f32_col; }
template <> const ColDesc<double>& col_desc<double>(const KernelSet& s) { return s.f64_col; }

// Narrow n (<= cd.max_n): column-vector tiles, every lane useful where a row tile would
// compute NR columns for n. op(A) = A^T (a weight gradient against 10 classes): A is read
// in place along its contiguous rows. op(A) = A (the 10-class forward): each MR x kc tile
// of A is first transposed into a per-thread buffer by the kernel set's ColPack (on
// AVX-512: 16 x 16 register transposes, ~0.3 cycles per value, against the 6/16 of the
// FMA work a 16-wide row tile wastes on n = 10). The same k-blocks and per-block epilogue
// as the blocked path, so the result is bitwise the one run_blocked() would give; threads
// take whole row tiles.
template <class T>
void run_col(const KernelDesc<T>& kd, const ColDesc<T>& cd, const Problem<T>& pr) {
  const index_t m = pr.m, n = pr.n, k = pr.k, MR = cd.MR;
  const index_t kc_max = block_kc(kd, n, k);
  const index_t tiles = ceil_div(m, MR);
  const double flops = 2.0 * double(m) * double(n) * double(k);
  int nt = std::min({num_threads(), pr.max_threads, static_cast<int>(std::max(1.0, flops / kMinFlopsPerThread))});
  nt = static_cast<int>(std::min<index_t>(nt, tiles));
  const Epilogue<T>* ep = pr.ep;
  const bool relu = ep && ep->act.kind == Act::relu;
  const bool other_act = ep && ep->act.kind != Act::relu && ep->act.kind != Act::linear;
  // Items of whole row tiles, a few per thread so that a descheduled thread holds up little.
  const index_t items = std::min<index_t>(tiles, index_t(nt) * 4);
  detail::parallel_for(nt, items, [&](std::int64_t item) {
    T* buf = nullptr;  // this thread's transposed A tile (op(A) = A only)
    if (pr.ta == Trans::N) {
      AlignedBuffer<T>& a_ws = workspace<T>().a;
      a_ws.reserve(static_cast<size_t>(MR * kc_max));
      buf = a_ws.data();
    }
    const index_t t0 = tiles * item / items, t1 = tiles * (item + 1) / items;
    for (index_t t = t0; t < t1; ++t) {
      const index_t i = t * MR, mr = std::min(MR, m - i);
      T* c = pr.C + i * pr.ldc;
      for (index_t pc = 0; pc < k; pc += kc_max) {
        const index_t kc = std::min(kc_max, k - pc);
        const bool last = pc + kc == k;
        TileEpilogue<T> te{pr.alpha, pc == 0 ? pr.beta : T(1), last && ep ? ep->bias : nullptr,
                           last && ep && ep->preact ? ep->preact + i * ep->ldp : nullptr, ep ? ep->ldp : 0,
                           last && relu};
        const T* b = pr.tb == Trans::N ? pr.B + pc * pr.ldb : pr.B + pc;
        const index_t rs_b = pr.tb == Trans::N ? pr.ldb : 1, cs_b = pr.tb == Trans::N ? 1 : pr.ldb;
        if (buf) {
          cd.pack(kc, mr, pr.A + i * pr.lda + pc, pr.lda, buf);
          cd.ukr(kc, mr, n, buf, MR, b, rs_b, cs_b, c, pr.ldc, te);
        } else {
          cd.ukr(kc, mr, n, pr.A + pc * pr.lda + i, pr.lda, b, rs_b, cs_b, c, pr.ldc, te);
        }
      }
      if (other_act) act_forward(ep->act, mr, n, c, pr.ldc, c, pr.ldc);
    }
  });
}

template <class T>
void run(const KernelDesc<T>& kd, const Problem<T>& pr, const ColDesc<T>* cd = nullptr) {
  if (pr.ep) check_epilogue(pr.ep->act.kind);
  if (pr.m <= 0 || pr.n <= 0) return;
  if (pr.k <= 0 || pr.alpha == T(0)) { scale_only(pr.m, pr.n, pr.beta, pr.C, pr.ldc, pr.ep); return; }
  if (cd && cd->ukr && !pr.Bp && pr.n <= cd->max_n && pr.m >= cd->MR &&
      (pr.ta == Trans::T || cd->pack)) {
    run_col(kd, *cd, pr);
    return;
  }
  Plan pl = make_plan(kd, pr);
  if (pr.Bp) {  // the blocking B was packed with
    pl.pack_b = false;
    pl.kc = pr.Bp->kc_;
    pl.nc = pr.Bp->nc_;
  }
  T* b_shared = nullptr;
  if (pl.pack_b) {
    Workspace<T>& ws = workspace<T>();
    ws.b.reserve(static_cast<size_t>(pl.kc * round_up(pl.nc, kd.NR)));
    b_shared = ws.b.data();
  }
  run_blocked(kd, pr, pl, b_shared);
}

}  // namespace
}  // namespace blis

template <class T>
void gemm(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* A, index_t lda, const T* B,
          index_t ldb, T beta, T* C, index_t ldc, const Epilogue<T>* ep) {
  const auto& ks = blis::kernel_set(blis::active_kernel_id());
  blis::run(blis::desc<T>(ks, n), blis::Problem<T>{ta, tb, m, n, k, alpha, A, lda, B, ldb, nullptr, beta, C, ldc, ep},
            &blis::col_desc<T>(ks));
}

template <class T>
void gemm_batched(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* const* A, index_t lda,
                  const T* const* B, index_t ldb, T beta, T* const* C, index_t ldc, index_t batch) {
  const auto& ks = blis::kernel_set(blis::active_kernel_id());
  const auto& kd = blis::desc<T>(ks, n);
  const auto* cd = &blis::col_desc<T>(ks);
  const double flops = 2.0 * double(m) * double(n) * double(k);
  // A product big enough to thread on its own is threaded inside; smaller ones are spread
  // over the batch, one thread each (no fork/join or shared packing per product).
  const int nt = static_cast<int>(std::min<double>({double(num_threads()), double(batch),
                                                    std::max(1.0, flops * double(batch) / blis::kMinFlopsPerThread)}));
  if (nt <= 1 || flops >= 2.0 * nt * blis::kMinFlopsPerThread) {
    for (index_t b = 0; b < batch; ++b)
      blis::run(kd, blis::Problem<T>{ta, tb, m, n, k, alpha, A[b], lda, B[b], ldb, nullptr, beta, C[b], ldc, nullptr},
                cd);
    return;
  }
  detail::parallel_for(nt, batch, [&](std::int64_t b) {
    blis::Problem<T> pr{ta, tb, m, n, k, alpha, A[b], lda, B[b], ldb, nullptr, beta, C[b], ldc, nullptr};
    pr.max_threads = 1;
    blis::run(kd, pr, cd);
  });
}

template <class T>
void gemm_reference(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* A, index_t lda,
                    const T* B, index_t ldb, T beta, T* C, index_t ldc, const Epilogue<T>* ep) {
  if (ep) blis::check_epilogue(ep->act.kind);
  for (index_t i = 0; i < m; ++i) {
    T* c = C + i * ldc;
    for (index_t j = 0; j < n; ++j) {
      T acc = T(0);
      for (index_t p = 0; p < k; ++p)
        acc += (ta == Trans::N ? A[i * lda + p] : A[p * lda + i]) * (tb == Trans::N ? B[p * ldb + j] : B[j * ldb + p]);
      T v = alpha * acc;
      if (beta != T(0)) v += beta * c[j];
      if (ep && ep->bias) v += ep->bias[j];
      if (ep && ep->preact) ep->preact[i * ep->ldp + j] = v;
      c[j] = v;
    }
    if (ep && ep->act.kind != Act::linear) act_forward(ep->act, 1, n, c, ldc, c, ldc);
  }
}

// Layout: for each jc block (NC columns, the last one shorter), for each pc block (KC
// rows), the kc x round_up(nc, NR) block as NR-wide panels: exactly what gemm() would
// pack for block (jc, pc), so gemm_packed runs the same loops without packing.
template <class T>
void PackedB<T>::pack(Trans tb, index_t k, index_t n, const T* B, index_t ldb) {
  if (k < 0 || n < 0) throw std::invalid_argument("PackedB::pack: k and n must be >= 0");
  const int id = blis::active_kernel_id();
  const auto& kd = blis::desc<T>(blis::kernel_set(id), n);
  const index_t kc = blis::block_kc(kd, n, std::max<index_t>(k, 1));
  const index_t nc = n > 0 ? blis::round_up(blis::ceil_div(n, blis::ceil_div(n, kd.NC)), kd.NR) : kd.NR;
  buf_.reserve(static_cast<size_t>(std::max<index_t>(k * blis::round_up(n, kd.NR), 1)));
  for (index_t jc = 0; jc < n; jc += nc) {
    const index_t ncb = std::min(nc, n - jc);
    for (index_t pc = 0; pc < k; pc += kc) {
      const index_t kcb = std::min(kc, k - pc);
      const T* src = tb == Trans::N ? B + pc * ldb + jc : B + jc * ldb + pc;
      blis::pack_b(tb, kcb, ncb, src, ldb, kd.NR, 0, blis::ceil_div(ncb, kd.NR),
                   buf_.data() + jc * k + pc * blis::round_up(ncb, kd.NR));
    }
  }
  k_ = k;
  n_ = n;
  kernel_id_ = id;
  nr_ = kd.NR;
  kc_ = kc;
  nc_ = nc;
}

template <class T>
std::string PackedB<T>::kernel() const {
  return kernel_id_ < 0 ? std::string() : blis::kernel_set(kernel_id_).name;
}

template <class T>
void gemm_packed(Trans ta, index_t m, T alpha, const T* A, index_t lda, const PackedB<T>& Bp, T beta, T* C,
                 index_t ldc, const Epilogue<T>* ep) {
  if (Bp.kernel_id_ < 0) throw std::invalid_argument("gemm_packed: B has not been packed");
  // The packed layout belongs to the kernel that packed it, so the product runs with that
  // kernel even if set_kernel() changed the active one since (it is supported: it was
  // active when B was packed).
  const auto& kd = blis::desc<T>(blis::kernel_set(Bp.kernel_id_), Bp.n());
  blis::Problem<T> pr{ta, Trans::N, m, Bp.n(), Bp.k(), alpha, A, lda, nullptr, 0, &Bp, beta, C, ldc, ep};
  blis::run(kd, pr);
}

#define DNNX_INSTANTIATE(T)                                                                                  \
  template void gemm<T>(Trans, Trans, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t, T, \
                        T*, index_t, const Epilogue<T>*);                                                    \
  template void gemm_batched<T>(Trans, Trans, index_t, index_t, index_t, T, const T* const*, index_t,          \
                                const T* const*, index_t, T, T* const*, index_t, index_t);                   \
  template void gemm_reference<T>(Trans, Trans, index_t, index_t, index_t, T, const T*, index_t, const T*,   \
                                  index_t, T, T*, index_t, const Epilogue<T>*);                              \
  template class PackedB<T>;                                                                                 \
  template void gemm_packed<T>(Trans, index_t, T, const T*, index_t, const PackedB<T>&, T, T*, index_t,      \
                               const Epilogue<T>*);
DNNX_INSTANTIATE(float)
DNNX_INSTANTIATE(double)
#undef DNNX_INSTANTIATE

}  // namespace dnnx
