// dnnx public C++ API: basic types shared by every part of the core.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

namespace dnnx {

using index_t = std::int64_t;

/// *r = a * b for a, b >= 0; true (and *r untouched) when the product overflows index_t.
inline bool mul_overflows(index_t a, index_t b, index_t* r) noexcept {
  if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a)) return true;
  *r = a * b;
  return false;
}

/// std::bad_alloc with a message (Python sees a MemoryError carrying it).
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string msg) : msg_(std::move(msg)) {}
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  std::string msg_;
};

namespace detail {
/// Test hook (fault injection): while armed, every AlignedBuffer::reserve called inside a
/// parallel region throws std::bad_alloc, so tests can check that such a failure reaches
/// the caller as an exception (not std::terminate). Defined in parallel.cpp.
bool fail_alloc_in_parallel() noexcept;
}  // namespace detail

/// 64-byte aligned, owning, uninitialised buffer of T. Move-only. Growing it (reserve)
/// is the only place the core allocates; hot loops only ever reuse an existing buffer.
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t n) { reserve(n); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) { release(); p_ = o.p_; n_ = o.n_; o.p_ = nullptr; o.n_ = 0; }
    return *this;
  }
  ~AlignedBuffer() { release(); }

  /// Ensure capacity for n elements. Contents are NOT preserved when it grows.
  void reserve(std::size_t n) {
    if (detail::fail_alloc_in_parallel()) throw std::bad_alloc();
    if (n <= n_) return;
    if (n > (SIZE_MAX - 63) / sizeof(T)) throw std::bad_alloc();
    release();
    std::size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
    void* p = nullptr;
#if defined(_MSC_VER)
    p = _aligned_malloc(bytes, 64);
#else
    if (posix_memalign(&p, 64, bytes) != 0) p = nullptr;
#endif
    if (!p) throw std::bad_alloc();
    p_ = static_cast<T*>(p);
    n_ = n;
  }
  void zero() { if (p_) std::memset(static_cast<void*>(p_), 0, n_ * sizeof(T)); }
  T* data() noexcept { return p_; }
  const T* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }
  T& operator[](std::size_t i) noexcept { return p_[i]; }
  const T& operator[](std::size_t i) const noexcept { return p_[i]; }

 private:
  void release() noexcept {
    if (!p_) return;
#if defined(_MSC_VER)
    _aligned_free(p_);
#else
    std::free(p_);
#endif
    p_ = nullptr;
    n_ = 0;
  }
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace dnnx
