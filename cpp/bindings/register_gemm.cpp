// dnnx.matmul (np.matmul semantics) and the low-level gemm entry points used by tests.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "arrays.hpp"
#include "dnnx/gemm.hpp"

namespace py = pybind11;

namespace dnnx::py_detail {
namespace {

// One operand's 2-D core as seen by gemm: Trans flag + leading dimension, or "needs a copy".
struct Layout {
  bool ok = false;
  Trans t = Trans::N;
  index_t ld = 0;
};

Layout layout_of(index_t rows, index_t cols, py::ssize_t s_r, py::ssize_t s_c, py::ssize_t item) {
  Layout L;
  auto div = [&](py::ssize_t s, index_t& out) {
    if (s < 0 || s % item) return false;
    out = static_cast<index_t>(s / item);
    return true;
  };
  index_t lr = 0, lc = 0;
  bool dr = div(s_r, lr), dc = div(s_c, lc);
  // Row-major: unit column stride (or a single column), row stride covers a row.
  if ((cols <= 1 || (dc && lc == 1)) && (rows <= 1 || (dr && lr >= cols))) {
    L.ok = true; L.t = Trans::N; L.ld = rows <= 1 ? std::max<index_t>(cols, 1) : lr;
    return L;
  }
  // Column-major (a transposed view of a row-major array).
  if ((rows <= 1 || (dr && lr == 1)) && (cols <= 1 || (dc && lc >= rows))) {
    L.ok = true; L.t = Trans::T; L.ld = cols <= 1 ? std::max<index_t>(rows, 1) : lc;
    return L;
  }
  return L;
}

std::string shp(const std::vector<py::ssize_t>& s) {
  std::string o = "(";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  if (s.size() == 1) o += ',';
  return o + ')';
}

bool overlaps(const py::array& x, const py::array& y) {
  if (x.size() == 0 || y.size() == 0) return false;
  auto bounds = [](const py::array& a, const char*& lo, const char*& hi) {
    const char* p = static_cast<const char*>(a.data());
    lo = hi = p;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
      py::ssize_t ext = (a.shape(i) - 1) * a.strides(i);
      if (ext < 0) lo += ext; else hi += ext;
    }
    hi += a.itemsize();
  };
  const char *xl, *xh, *yl, *yh;
  bounds(x, xl, xh);
  bounds(y, yl, yh);
  return xl < yh && yl < xh;
}

template <class T>
struct Operand {
  std::vector<py::ssize_t> batch_strides;  // bytes, 0 where broadcast
  py::ssize_t s_r = 0, s_c = 0;
  const char* base = nullptr;
};

template <class T>
void run_batches(const std::vector<py::ssize_t>& bshape, index_t m, index_t n, index_t k, const Operand<T>& A,
                 const Operand<T>& B, char* cbase, const std::vector<py::ssize_t>& cbstr, index_t ldc) {
  const py::ssize_t item = sizeof(T);
  index_t nb = 1;
  for (auto d : bshape) nb *= d;
  const size_t nd = bshape.size();
  Layout la = layout_of(m, k, A.s_r, A.s_c, item);
  Layout lb = layout_of(k, n, B.s_r, B.s_c, item);
  // Copies for operands whose strides gemm cannot read directly, one per product.
  AlignedBuffer<T> ta, tb;
  if (!la.ok) ta.reserve(static_cast<size_t>(std::max<index_t>(nb * m * k, 1)));
  if (!lb.ok) tb.reserve(static_cast<size_t>(std::max<index_t>(nb * k * n, 1)));
  std::vector<const T*> pa(static_cast<size_t>(nb)), pb(static_cast<size_t>(nb));
  std::vector<T*> pc(static_cast<size_t>(nb));
  std::vector<py::ssize_t> idx(nd, 0);
  for (index_t b = 0; b < nb; ++b) {
    const char* xa = A.base; const char* xb = B.base; char* xc = cbase;
    for (size_t d = 0; d < nd; ++d) {
      xa += idx[d] * A.batch_strides[d];
      xb += idx[d] * B.batch_strides[d];
      xc += idx[d] * cbstr[d];
    }
    pa[b] = reinterpret_cast<const T*>(xa);
    pb[b] = reinterpret_cast<const T*>(xb);
    pc[b] = reinterpret_cast<T*>(xc);
    if (!la.ok) {
      T* dst = ta.data() + b * m * k;
      for (index_t i = 0; i < m; ++i)
        for (index_t p = 0; p < k; ++p) dst[i * k + p] = *reinterpret_cast<const T*>(xa + i * A.s_r + p * A.s_c);
      pa[b] = dst;
    }
    if (!lb.ok) {
      T* dst = tb.data() + b * k * n;
      for (index_t p = 0; p < k; ++p)
        for (index_t j = 0; j < n; ++j) dst[p * n + j] = *reinterpret_cast<const T*>(xb + p * B.s_r + j * B.s_c);
      pb[b] = dst;
    }
    for (size_t d = nd; d-- > 0;) {  // odometer increment
      if (++idx[d] < bshape[d]) break;
      idx[d] = 0;
    }
  }
  const Layout ua = la.ok ? la : Layout{true, Trans::N, std::max<index_t>(k, 1)};
  const Layout ub = lb.ok ? lb : Layout{true, Trans::N, std::max<index_t>(n, 1)};
  if (nb == 1)
    gemm<T>(ua.t, ub.t, m, n, k, T(1), pa[0], ua.ld, pb[0], ub.ld, T(0), pc[0], ldc);
  else
    gemm_batched<T>(ua.t, ub.t, m, n, k, T(1), pa.data(), ua.ld, pb.data(), ub.ld, T(0), pc.data(), ldc, nb);
}

// The common case on a short path: two 2-D arrays of one float dtype, each row- or
// column-major (e.g. a transposed view), and either no `out` or a C-contiguous, writeable
// `out` of that dtype and shape that shares no memory with them: no shape vectors, no
// pointer arrays, straight to gemm (~0.35 us of overhead instead of ~0.75 us with `out`).
// Returns an empty object when the general path must handle the call (including every
// error, so messages stay in one place).
template <class T>
py::object matmul_2d(const py::array& a, const py::array& b, const py::object& out_obj) {
  const index_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
  if (b.shape(0) != k || m == 0 || n == 0) return py::object();
  const py::ssize_t item = sizeof(T);
  const Layout la = layout_of(m, k, a.strides(0), a.strides(1), item);
  const Layout lb = layout_of(k, n, b.strides(0), b.strides(1), item);
  if (!la.ok || !lb.ok) return py::object();
  py::array c;
  if (out_obj.is_none()) {
    c = py::array_t<T>({static_cast<py::ssize_t>(m), static_cast<py::ssize_t>(n)});
  } else {
    if (!py::isinstance<py::array>(out_obj)) return py::object();
    c = py::reinterpret_borrow<py::array>(out_obj);
    if (c.ndim() != 2 || c.shape(0) != m || c.shape(1) != n || !has_dtype<T>(c) ||
        !c.writeable() || c.strides(1) != item || c.strides(0) != n * item || overlaps(c, a) || overlaps(c, b))
      return py::object();
  }
  const T* A = static_cast<const T*>(a.data());
  const T* B = static_cast<const T*>(b.data());
  T* C = static_cast<T*>(c.mutable_data());
  if (2.0 * double(m) * double(n) * double(k) < 2.0e5) {  // a few us: not worth a GIL round trip
    gemm<T>(la.t, lb.t, m, n, k, T(1), A, la.ld, B, lb.ld, T(0), C, n);
  } else {
    py::gil_scoped_release nogil;  // safe: raw pointers into arrays the caller holds
    gemm<T>(la.t, lb.t, m, n, k, T(1), A, la.ld, B, lb.ld, T(0), C, n);
  }
  return std::move(c);
}

// An operand as a NumPy array: array-likes converted (as np.asarray), byte-swapped
// float32/float64 data (e.g. read from a big-endian file) converted to native order.
py::array as_operand(const py::object& x) {
  py::array a = py::isinstance<py::array>(x) ? py::reinterpret_borrow<py::array>(x) : py::array::ensure(x);
  if (!a) throw py::error_already_set();
  const py::dtype d = a.dtype();
  const char order = d.byteorder();  // NumPy reports native order as '=' (or '|')
  if (d.kind() == 'f' && (order == '<' || order == '>')) {
    if (d.itemsize() == 4) return py::array::ensure(a.attr("astype")(py::dtype::of<float>()));
    if (d.itemsize() == 8) return py::array::ensure(a.attr("astype")(py::dtype::of<double>()));
  }
  return a;
}

py::object matmul(py::object a_obj, py::object b_obj, py::object out_obj) {
  py::array a = as_operand(a_obj), b = as_operand(b_obj);
  if (a.ndim() == 2 && b.ndim() == 2) {
    // Type numbers suffice here: as_operand() gave both operands native byte order.
    const int na = a.dtype().num(), nb = b.dtype().num();
    py::object r;
    if (na == nb && na == py::detail::npy_api::NPY_FLOAT_) r = matmul_2d<float>(a, b, out_obj);
    else if (na == nb && na == py::detail::npy_api::NPY_DOUBLE_) r = matmul_2d<double>(a, b, out_obj);
    if (r) return r;
  }
  if (a.ndim() == 0 || b.ndim() == 0)
    throw py::value_error("dnnx.matmul: operands must have at least 1 dimension; received a with shape " +
                          shape_str(a) + " and b with shape " + shape_str(b) + " (use * for scalars)");
  const bool a64 = is_f64(a, "dnnx.matmul: a");
  const bool b64 = is_f64(b, "dnnx.matmul: b");
  const bool f64 = a64 || b64;
  py::dtype dt = f64 ? py::dtype::of<double>() : py::dtype::of<float>();
  // Mixed precision follows NumPy's result type: promote the float32 operand once.
  if (f64 && !a64) a = py::array::ensure(a.attr("astype")(dt));
  if (f64 && !b64) b = py::array::ensure(b.attr("astype")(dt));

  // Shapes with 1-D promotion (np.matmul rules).
  std::vector<py::ssize_t> sa(a.shape(), a.shape() + a.ndim()), sb(b.shape(), b.shape() + b.ndim());
  std::vector<py::ssize_t> ta(a.strides(), a.strides() + a.ndim()), tb(b.strides(), b.strides() + b.ndim());
  const bool a1 = a.ndim() == 1, b1 = b.ndim() == 1;
  if (a1) { sa.insert(sa.begin(), 1); ta.insert(ta.begin(), 0); }
  if (b1) { sb.push_back(1); tb.push_back(0); }
  const index_t m = sa[sa.size() - 2], k = sa.back(), k2 = sb[sb.size() - 2], n = sb.back();
  if (k != k2) {
    throw py::value_error("dnnx.matmul: the contracted dimensions disagree: a has shape " + shape_str(a) +
                          " (k=" + std::to_string(k) + ") but b has shape " + shape_str(b) +
                          " (k=" + std::to_string(k2) + ")");
  }
  // Broadcast batch dimensions.
  const size_t nba = sa.size() - 2, nbb = sb.size() - 2, nd = std::max(nba, nbb);
  std::vector<py::ssize_t> bshape(nd), bsa(nd, 0), bsb(nd, 0);
  for (size_t d = 0; d < nd; ++d) {
    py::ssize_t da = 1, db = 1, stra = 0, strb = 0;
    if (d + nba >= nd) { da = sa[d + nba - nd]; stra = ta[d + nba - nd]; }
    if (d + nbb >= nd) { db = sb[d + nbb - nd]; strb = tb[d + nbb - nd]; }
    if (da != db && da != 1 && db != 1)
      throw py::value_error("dnnx.matmul: batch dimensions cannot be broadcast together: a has shape " +
                            shape_str(a) + ", b has shape " + shape_str(b) + " (batch sizes " +
                            std::to_string(da) + " and " + std::to_string(db) + ")");
    bshape[d] = da == 1 ? db : da;
    bsa[d] = da == 1 ? 0 : stra;
    bsb[d] = db == 1 ? 0 : strb;
  }
  // Result shape (1-D promotions removed again).
  std::vector<py::ssize_t> rshape = bshape;
  if (!a1) rshape.push_back(m);
  if (!b1) rshape.push_back(n);

  py::array out;
  bool copy_back = false;
  py::array target;
  if (!out_obj.is_none()) {
    if (!py::isinstance<py::array>(out_obj))
      throw py::type_error("dnnx.matmul: out must be a numpy.ndarray; received " +
                           py::str(py::type::of(out_obj)).cast<std::string>());
    out = py::reinterpret_borrow<py::array>(out_obj);
    if (!(f64 ? has_dtype<double>(out) : has_dtype<float>(out)))
      throw py::type_error(std::string("dnnx.matmul: out must have dtype ") + (f64 ? "float64" : "float32") +
                           " (the result type); received " + dtype_str(out));
    std::vector<py::ssize_t> os(out.shape(), out.shape() + out.ndim());
    if (os != rshape)
      throw py::value_error("dnnx.matmul: out must have shape " + shp(rshape) + "; received " + shape_str(out));
    if (!out.writeable()) throw py::value_error("dnnx.matmul: out is read-only");
    target = out;
    // gemm writes row-major C blocks; anything else (or out overlapping an input) is
    // computed into a fresh array and copied into out.
    bool rowmajor = true;
    if (!b1 && n > 1 && out.strides(out.ndim() - 1) != out.itemsize()) rowmajor = false;
    if (!a1 && m > 1) {
      py::ssize_t sr = out.strides(out.ndim() - (b1 ? 1 : 2));
      if (sr < 0 || sr % out.itemsize() || sr / out.itemsize() < (b1 ? 1 : n)) rowmajor = false;
    }
    for (py::ssize_t d = 0; d < static_cast<py::ssize_t>(nd); ++d) if (out.strides(d) < 0) rowmajor = false;
    if (!rowmajor || overlaps(out, a) || overlaps(out, b)) {
      copy_back = true;
      target = py::array(dt, rshape);
    }
  } else {
    target = py::array(dt, rshape);
  }

  // Strides of the target as an (..., m, n) array.
  std::vector<py::ssize_t> cb(nd);
  for (size_t d = 0; d < nd; ++d) cb[d] = target.strides(static_cast<py::ssize_t>(d));
  index_t ldc;
  const py::ssize_t item = target.itemsize();
  if (!a1) ldc = static_cast<index_t>(target.strides(static_cast<py::ssize_t>(nd)) / item);
  else ldc = std::max<index_t>(n, 1);
  if (!a1 && m <= 1) ldc = std::max<index_t>(n, 1);
  char* cbase = static_cast<char*>(target.mutable_data());

  bool empty = m == 0 || n == 0;
  for (auto d : bshape) if (d == 0) empty = true;
  if (!empty) {
    if (f64) {
      Operand<double> A{bsa, ta[ta.size() - 2], ta.back(), static_cast<const char*>(a.data())};
      Operand<double> B{bsb, tb[tb.size() - 2], tb.back(), static_cast<const char*>(b.data())};
      // Safe without the GIL: only raw pointers into arrays this frame keeps alive.
      py::gil_scoped_release nogil;
      run_batches<double>(bshape, m, n, k, A, B, cbase, cb, ldc);
    } else {
      Operand<float> A{bsa, ta[ta.size() - 2], ta.back(), static_cast<const char*>(a.data())};
      Operand<float> B{bsb, tb[tb.size() - 2], tb.back(), static_cast<const char*>(b.data())};
      py::gil_scoped_release nogil;
      run_batches<float>(bshape, m, n, k, A, B, cbase, cb, ldc);
    }
  }
  if (copy_back) {
    out[py::ellipsis()] = target;
    target = out;
  }
  if (rshape.empty() && out_obj.is_none()) return target[py::tuple()];  // 1-D @ 1-D: a scalar, as NumPy
  return target;
}

// The fused epilogue from Python arguments; the arrays it points into are kept in `keep`.
template <class T>
const Epilogue<T>* make_epilogue(Epilogue<T>& ep, index_t m, index_t n, py::object bias,
                                 const std::string& activation, py::object act_alpha, py::object preact,
                                 std::vector<py::array>& keep) {
  bool use_ep = false;
  if (!bias.is_none()) {
    py::array bias_arr = py::reinterpret_borrow<py::array>(bias);
    require<T>(bias_arr, "bias", 1);
    if (bias_arr.shape(0) != n)
      throw py::value_error("gemm: bias must have shape (" + std::to_string(n) + ",); received " +
                            shape_str(bias_arr));
    ep.bias = cptr<T>(bias_arr);
    keep.push_back(bias_arr);
    use_ep = true;
  }
  ep.act.kind = act_from_name(activation);
  ep.act.alpha = act_alpha.is_none() ? act_default_alpha(ep.act.kind) : act_alpha.cast<double>();
  if (act_is_rowwise(ep.act.kind)) throw py::value_error("gemm: activation '" + activation + "' cannot be fused");
  if (ep.act.kind != Act::linear) use_ep = true;
  if (!preact.is_none()) {
    py::array pre_arr = py::reinterpret_borrow<py::array>(preact);
    require<T>(pre_arr, "preact", 2, true);
    if (pre_arr.shape(0) != m || pre_arr.shape(1) != n)
      throw py::value_error("gemm: preact must have the shape of c (" + std::to_string(m) + ", " +
                            std::to_string(n) + "); received " + shape_str(pre_arr));
    ep.preact = mptr<T>(pre_arr);
    ep.ldp = n;
    keep.push_back(pre_arr);
    use_ep = true;
  }
  return use_ep ? &ep : nullptr;
}

template <class T>
void gemm_py(py::array a, py::array b, py::array c, bool trans_a, bool trans_b, double alpha, double beta,
             py::object bias, const std::string& activation, py::object act_alpha, py::object preact,
             bool reference) {
  require<T>(a, "a", 2);
  require<T>(b, "b", 2);
  require<T>(c, "c", 2, true);
  const index_t m = trans_a ? a.shape(1) : a.shape(0), k = trans_a ? a.shape(0) : a.shape(1);
  const index_t kb = trans_b ? b.shape(1) : b.shape(0), n = trans_b ? b.shape(0) : b.shape(1);
  if (k != kb)
    throw py::value_error("gemm: op(a) is " + std::to_string(m) + "x" + std::to_string(k) + " but op(b) is " +
                          std::to_string(kb) + "x" + std::to_string(n));
  if (c.shape(0) != m || c.shape(1) != n)
    throw py::value_error("gemm: c must have shape (" + std::to_string(m) + ", " + std::to_string(n) +
                          "); received " + shape_str(c));
  Epilogue<T> ep;
  std::vector<py::array> keep;
  const Epilogue<T>* epp = make_epilogue<T>(ep, m, n, bias, activation, act_alpha, preact, keep);
  const T* A = cptr<T>(a);
  const T* B = cptr<T>(b);
  T* C = mptr<T>(c);
  const index_t lda = a.shape(1), ldb = b.shape(1), ldc = n;
  const Trans ta = trans_a ? Trans::T : Trans::N, tb = trans_b ? Trans::T : Trans::N;
  // Safe without the GIL: raw pointers into arrays held by this frame.
  py::gil_scoped_release nogil;
  if (reference)
    gemm_reference<T>(ta, tb, m, n, k, T(alpha), A, lda, B, ldb, T(beta), C, ldc, epp);
  else
    gemm<T>(ta, tb, m, n, k, T(alpha), A, lda, B, ldb, T(beta), C, ldc, epp);
}

// _core.PackedB: op(b) packed once for the active kernel (float32 or float64).
struct PyPackedB {
  bool f64 = false;
  PackedB<float> f;
  PackedB<double> d;
};

PyPackedB make_packed(py::array b, bool trans_b) {
  PyPackedB p;
  p.f64 = is_f64(b, "PackedB: b");
  const Trans tb = trans_b ? Trans::T : Trans::N;
  const index_t k = trans_b ? b.shape(1) : b.shape(0), n = trans_b ? b.shape(0) : b.shape(1);
  if (p.f64) {
    require<double>(b, "PackedB: b", 2);
    const double* B = cptr<double>(b);
    py::gil_scoped_release nogil;  // safe: only a raw pointer into b, which the caller holds
    p.d.pack(tb, k, n, B, b.shape(1));
  } else {
    require<float>(b, "PackedB: b", 2);
    const float* B = cptr<float>(b);
    py::gil_scoped_release nogil;
    p.f.pack(tb, k, n, B, b.shape(1));
  }
  return p;
}

template <class T>
void gemm_packed_py(py::array a, const PackedB<T>& bp, py::array c, bool trans_a, double alpha, double beta,
                    py::object bias, const std::string& activation, py::object act_alpha, py::object preact) {
  require<T>(a, "a", 2);
  require<T>(c, "c", 2, true);
  const index_t m = trans_a ? a.shape(1) : a.shape(0), k = trans_a ? a.shape(0) : a.shape(1);
  if (k != bp.k())
    throw py::value_error("gemm_packed: op(a) is " + std::to_string(m) + "x" + std::to_string(k) +
                          " but the packed b is " + std::to_string(bp.k()) + "x" + std::to_string(bp.n()));
  if (c.shape(0) != m || c.shape(1) != bp.n())
    throw py::value_error("gemm_packed: c must have shape (" + std::to_string(m) + ", " + std::to_string(bp.n()) +
                          "); received " + shape_str(c));
  Epilogue<T> ep;
  std::vector<py::array> keep;
  const Epilogue<T>* epp = make_epilogue<T>(ep, m, bp.n(), bias, activation, act_alpha, preact, keep);
  const T* A = cptr<T>(a);
  T* C = mptr<T>(c);
  // Safe without the GIL: raw pointers into arrays held by this frame; bp is owned by a
  // Python object the caller holds.
  py::gil_scoped_release nogil;
  gemm_packed<T>(trans_a ? Trans::T : Trans::N, m, T(alpha), A, a.shape(1), bp, T(beta), C, bp.n(), epp);
}

template <class T>
py::dict block_sizes_dict(const std::string& name) {
  BlockSizes b = kernel_block_sizes<T>(name);
  py::dict d;
  d["MR"] = b.MR;
  d["NR"] = b.NR;
  d["MC"] = b.MC;
  d["KC"] = b.KC;
  d["NC"] = b.NC;
  d["KC_wide"] = b.KC_wide;
  return d;
}

}  // namespace

void register_gemm(py::module_& m) {
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
        R"(np.matmul for float32/float64 arrays; dnnx.matmul documents it.)");
  m.def(
      "gemm",
      [](py::array a, py::array b, py::array c, bool trans_a, bool trans_b, double alpha, double beta,
         py::object bias, const std::string& activation, py::object act_alpha, py::object preact, bool reference) {
        if (is_f64(c, "c"))
          gemm_py<double>(a, b, c, trans_a, trans_b, alpha, beta, bias, activation, act_alpha, preact, reference);
        else
          gemm_py<float>(a, b, c, trans_a, trans_b, alpha, beta, bias, activation, act_alpha, preact, reference);
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("trans_a") = false, py::arg("trans_b") = false,
      py::arg("alpha") = 1.0, py::arg("beta") = 0.0, py::arg("bias") = py::none(),
      py::arg("activation") = "linear", py::arg("activation_alpha") = py::none(), py::arg("preact") = py::none(),
      py::arg("reference") = false,
      R"(c = act(alpha*op(a)@op(b) + beta*c + bias) in place (C-contiguous 2-D arrays of one dtype).)");

  py::class_<PyPackedB>(m, "PackedB", R"(op(b) packed once for the active GEMM kernel, reused by gemm_packed.)")
      .def(py::init(&make_packed), py::arg("b"), py::arg("trans_b") = false)
      .def_property_readonly("k", [](const PyPackedB& p) { return p.f64 ? p.d.k() : p.f.k(); })
      .def_property_readonly("n", [](const PyPackedB& p) { return p.f64 ? p.d.n() : p.f.n(); })
      .def_property_readonly("dtype", [](const PyPackedB& p) { return p.f64 ? "float64" : "float32"; })
      .def_property_readonly("kernel", [](const PyPackedB& p) { return p.f64 ? p.d.kernel() : p.f.kernel(); });
  m.def(
      "gemm_packed",
      [](py::array a, const PyPackedB& bp, py::array c, bool trans_a, double alpha, double beta, py::object bias,
         const std::string& activation, py::object act_alpha, py::object preact) {
        if (bp.f64 != is_f64(a, "gemm_packed: a"))
          throw py::type_error(std::string("gemm_packed: a must have the packed b's dtype ") +
                               (bp.f64 ? "float64" : "float32") + "; received " + dtype_str(a));
        if (bp.f64)
          gemm_packed_py<double>(a, bp.d, c, trans_a, alpha, beta, bias, activation, act_alpha, preact);
        else
          gemm_packed_py<float>(a, bp.f, c, trans_a, alpha, beta, bias, activation, act_alpha, preact);
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("trans_a") = false, py::arg("alpha") = 1.0,
      py::arg("beta") = 0.0, py::arg("bias") = py::none(), py::arg("activation") = "linear",
      py::arg("activation_alpha") = py::none(), py::arg("preact") = py::none(),
      R"(c = act(alpha*op(a)@b + beta*c + bias) in place, b a PackedB (always multiplied with the kernel it was packed for).)");
  m.def(
      "kernel_info",
      [](const std::string& name) {
        py::dict d;
        d["name"] = name.empty() ? active_kernel() : name;
        d["float32"] = block_sizes_dict<float>(name);
        d["float64"] = block_sizes_dict<double>(name);
        return d;
      },
      py::arg("name") = "", R"(Block sizes {MR, NR, MC, KC, NC, KC_wide (KC for n >= 1024)} per dtype of a GEMM kernel ("" = the active one).)");
  // Choose the kernel now, so that a DNNX_KERNEL the CPU cannot run fails the import
  // with its message (ImportError) instead of the first product.
  active_kernel();
}

}  // namespace dnnx::py_detail
