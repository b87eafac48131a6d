// BatchNorm2d -> MaxPool2d -> ReLU, the end of each of the CRNN's conv blocks, for channels_last CPU
// tensors: one pass over the block's full-size activations forward (pooling and statistics together)
// and one backward, where torch's three layers make about eight (normalised copy, pooled indices as
// int64, a zero-filled gradient, two passes of batch norm's backward...). The first block, whose
// convolution has one input channel, can also take its convolution in (conv_bn_pool_relu): its
// activations (32 values per pixel of the image) are then computed where they are used forward, and
// never stored; backward needs only the pooled positions and 54 sums over the image's 3x3 patches.
//
// Why pooling can come first: batch norm is y = a x + b per channel; for a >= 0 the window's largest y
// is at its largest x, for a < 0 at its smallest, and a has the sign of batch norm's weight. So the
// forward pass pools x itself, normalises only the selected values, and keeps which element of each
// window was chosen (the first one on ties, as max-pool does). Backward, batch norm's gradient needs
// two per-channel sums of the full-size gradient, which is zero outside the chosen elements, so they
// are sums over the pooled tensor; then one pass gives x's gradient: dx = a g [chosen] + c0 + c1 x.
//
// Pooling: kernel = stride = (ph, pw), no padding, floor mode (rows/columns past the last whole window
// take no part in pooling, but do in the statistics and get batch norm's gradient).
// Memory: x (N, H, W, C) as channels_last stores it; outputs (N, Ho, Wo, C). Sums run in fixed blocks,
// so results do not depend on the thread count.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include "vectorised.h"

#include <tuple>
#include <vector>

namespace {

using at::vec::Vectorized;

using hwr::acc_t;

constexpr int64_t kBlocks = 64;  // fixed reduction blocks
constexpr int64_t kTile = 16;    // backward: columns per tile, so that the widened buffers stay in L1

struct Shape {
  int64_t N, C, H, W, ph, pw, Ho, Wo;
};

// Adds the per-channel sum and sum of squares of `count` positions of C values to sum, sq; two vectors
// of channels at a time, their sums in registers.
template <typename A>
void add_moments(const A* values, int64_t count, int64_t C, A* sum, A* sq) {
  using V = Vectorized<A>;
  for (int64_t j = 0; j < C; j += 2 * V::size()) {
    const int64_t k0 = std::min<int64_t>(V::size(), C - j), k1 = std::clamp<int64_t>(C - j - V::size(), 0, V::size());
    V s0(A(0)), s1(A(0)), q0(A(0)), q1(A(0));
    for (int64_t p = 0; p < count; ++p) {
      const V v0 = V::loadu(values + p * C + j, k0);
      s0 = s0 + v0, q0 = at::vec::fmadd(v0, v0, q0);
      if (k1 > 0) {
        const V v1 = V::loadu(values + p * C + j + V::size(), k1);
        s1 = s1 + v1, q1 = at::vec::fmadd(v1, v1, q1);
      }
    }
    (V::loadu(sum + j, k0) + s0).store(sum + j, k0);
    (V::loadu(sq + j, k0) + q0).store(sq + j, k0);
    if (k1 > 0) {
      (V::loadu(sum + j + V::size(), k1) + s1).store(sum + j + V::size(), k1);
      (V::loadu(sq + j + V::size(), k1) + q1).store(sq + j + V::size(), k1);
    }
  }
}

// Pools the ph widened input rows `rows` (ph * W * C) of one output row by `sign` (+1: max, -1: min;
// the first of equal values wins) into best (the chosen values) and index (their place in the window).
template <typename A>
void pool_rows(const A* rows, const Shape& s, const A* sign, A* best, A* index) {
  using V = Vectorized<A>;
  const int64_t C = s.C, W = s.W, pw = s.pw, window = s.ph * s.pw;
  for (int64_t wo = 0; wo < s.Wo; ++wo) {
    FOR_LANES(C) {
      const V sg = L(sign);
      V top = V::loadu(rows + (wo * pw) * C + j, k) * sg, at(A(0));
      for (int64_t t = 1; t < window; ++t) {
        V v = V::loadu(rows + ((t / pw) * W + wo * pw + t % pw) * C + j, k) * sg;
        V better = v > top;  // strictly: the first of equal values wins
        top = V::blendv(top, v, better);
        at = V::blendv(at, V(A(t)), better);
      }
      S(top * sg, best + wo * C);
      S(at, index + wo * C);
    }
  }
}

// Window places, computed as acc_t, stored as uint8. The count is a local: through a captured reference
// it would be reloaded after every byte store (a uint8 store may alias it), which kept this loop scalar.
template <typename A>
void store_indices(const A* index, uint8_t* out, int64_t count) {
  for (int64_t e = 0; e < count; ++e) out[e] = static_cast<uint8_t>(index[e]);
}

using Forward = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

// The forward pass over an input given row by row: fill(n, h, dst, scratch) writes input row h of
// sample n (W * C values, widened to acc_t), with `scratch_size` values of per-thread scratch. Returns (out, selected, x_selected, mean, invstd); in training it
// also updates the running statistics.
template <typename scalar_t, typename Fill>
Forward pool_forward(const Fill& fill, int64_t scratch_size, const Shape& s, const at::TensorOptions& options, const at::Tensor& weight,
                     const at::Tensor& bias, at::Tensor& running_mean, at::Tensor& running_var, bool training,
                     double momentum, double eps) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  const int64_t N = s.N, C = s.C, H = s.H, W = s.W, ph = s.ph, Ho = s.Ho, Wo = s.Wo;
  const auto stats_type = std::is_same_v<A, double> ? at::kDouble : at::kFloat;
  at::Tensor mean = at::empty({C}, options.dtype(stats_type)), invstd = at::empty({C}, options.dtype(stats_type));
  at::Tensor out = at::empty({N, C, Ho, Wo}, options.memory_format(at::MemoryFormat::ChannelsLast));
  // what backward needs: only in training (eval-mode batch norm with gradients is left to torch)
  const int64_t kept = training ? N : 0;
  at::Tensor selected = at::empty({kept, Ho, Wo, C}, options.dtype(at::kByte));
  at::Tensor x_selected = at::empty({kept, Ho, Wo, C}, options);
  const int64_t M = N * H * W, P = N * Ho;  // values per channel, pooled rows
  at::Tensor w64 = weight.to(at::kDouble).contiguous(), b64 = bias.to(at::kDouble).contiguous();
  const double *wd = w64.data_ptr<double>(), *bd = b64.data_ptr<double>();
  std::vector<A> a(C), b(C), sign(C);
  for (int64_t c = 0; c < C; ++c) sign[c] = wd[c] >= 0 ? A(1) : A(-1);
  std::vector<double> m(C), is(C);
  scalar_t* op = out.data_ptr<scalar_t>();
  scalar_t* xs = x_selected.data_ptr<scalar_t>();
  uint8_t* sp = selected.data_ptr<uint8_t>();
  auto set_affine = [&] {  // y = a x + b from m, is
    for (int64_t c = 0; c < C; ++c) {
      a[c] = A(wd[c] * is[c]);
      b[c] = A(bd[c] - m[c] * wd[c] * is[c]);
      mean.data_ptr<A>()[c] = A(m[c]);
      invstd.data_ptr<A>()[c] = A(is[c]);
    }
  };
  auto normalise = [&](const A* best, int64_t r, A* y) {  // pooled row r: Wo * C values
    for (int64_t e = 0; e < Wo; ++e) {
      FOR_LANES(C) { S(at::vec::maximum(L(a.data()) * L(best + e * C) + L(b.data()), V(A(0))), y + e * C); }
    }
    at::vec::convert(y, op + r * Wo * C, Wo * C);
  };
  auto fill_window_rows = [&](int64_t r, A* rows, A* scratch) {
    for (int64_t i = 0; i < ph; ++i) fill(r / Ho, (r % Ho) * ph + i, rows + i * W * C, scratch);
  };
  if (!training) {  // running statistics: one pass
    at::Tensor rm = running_mean.to(at::kDouble).contiguous(), rv = running_var.to(at::kDouble).contiguous();
    for (int64_t c = 0; c < C; ++c) m[c] = rm.data_ptr<double>()[c], is[c] = 1.0 / std::sqrt(rv.data_ptr<double>()[c] + eps);
    set_affine();
    at::parallel_for(0, P, 1, [&](int64_t r0, int64_t r1) {
      std::vector<A> rows(ph * W * C), best(Wo * C), index(Wo * C), y(Wo * C), scratch(scratch_size);
      for (int64_t r = r0; r < r1; ++r) {
        fill_window_rows(r, rows.data(), scratch.data());
        pool_rows(rows.data(), s, sign.data(), best.data(), index.data());
        normalise(best.data(), r, y.data());
      }
    });
    return {out, selected, x_selected, mean, invstd};
  }
  TORCH_CHECK(M > 1, "hwr blocks: batch norm needs more than one value per channel in training");
  // 1. pool, keep the chosen values and their places, sum the moments
  const int64_t blocks = std::min(kBlocks, P);
  std::vector<double> part_sum(blocks * C, 0.0), part_sq(blocks * C, 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<A> rows(ph * W * C), best(Wo * C), index(Wo * C), sum(C), sq(C), scratch(scratch_size);
    for (int64_t blk = b0; blk < b1; ++blk) {
      for (int64_t r = P * blk / blocks; r < P * (blk + 1) / blocks; ++r) {
        std::fill(sum.begin(), sum.end(), A(0));
        std::fill(sq.begin(), sq.end(), A(0));
        fill_window_rows(r, rows.data(), scratch.data());
        pool_rows(rows.data(), s, sign.data(), best.data(), index.data());
        add_moments(rows.data(), ph * W, C, sum.data(), sq.data());
        if (r % Ho == Ho - 1) {  // the rows past the last whole window count in the statistics too
          for (int64_t h = Ho * ph; h < H; ++h) {
            fill(r / Ho, h, rows.data(), scratch.data());
            add_moments(rows.data(), W, C, sum.data(), sq.data());
          }
        }
        const int64_t o = r * Wo * C;
        at::vec::convert(best.data(), xs + o, Wo * C);
        store_indices(index.data(), sp + o, Wo * C);
        for (int64_t c = 0; c < C; ++c) part_sum[blk * C + c] += sum[c], part_sq[blk * C + c] += sq[c];
      }
    }
  });
  std::vector<double> sum(C, 0.0), sq(C, 0.0);
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t c = 0; c < C; ++c) sum[c] += part_sum[blk * C + c], sq[c] += part_sq[blk * C + c];
  at::Tensor rm = running_mean.to(at::kDouble), rv = running_var.to(at::kDouble);
  for (int64_t c = 0; c < C; ++c) {
    m[c] = sum[c] / M;
    const double var = std::max(sq[c] / M - m[c] * m[c], 0.0);
    is[c] = 1.0 / std::sqrt(var + eps);
    rm.data_ptr<double>()[c] = (1 - momentum) * rm.data_ptr<double>()[c] + momentum * m[c];
    rv.data_ptr<double>()[c] = (1 - momentum) * rv.data_ptr<double>()[c] + momentum * var * M / (M - 1);
  }
  running_mean.copy_(rm);
  running_var.copy_(rv);
  set_affine();
  // 2. normalise the chosen values (as stored: in the output's dtype, as the unfused layers see them)
  at::parallel_for(0, P, 1, [&](int64_t r0, int64_t r1) {
    std::vector<A> best(Wo * C), y(Wo * C);
    for (int64_t r = r0; r < r1; ++r) {
      at::vec::convert(xs + r * Wo * C, best.data(), Wo * C);
      normalise(best.data(), r, y.data());
    }
  });
  return {out, selected, x_selected, mean, invstd};
}

// Batch norm's backward through ReLU and the pooling, up to x's gradient: the two per-channel sums
// over the pooled positions, s1 = sum g and s2 = sum g * xhat (g: the gradient past ReLU; they are
// batch norm's bias and weight gradients), and the coefficients of dx = a g [chosen] + c0 + c1 x
// (dx = a (g_scattered - s1/M - xhat s2/M), M values per channel).
struct PoolGradient {
  std::vector<double> s1, s2, a, c0, c1;
  at::Tensor grad_weight, grad_bias;
};

// Over `count` pooled positions of C values (g: the output's gradient, z: the output, x: the chosen
// inputs), adds to s1 the gradient past ReLU, g where z > 0, and to s2 that times xhat = (x - mean) *
// invstd; where `scaled` is given, writes a * (g where z > 0) there.
template <typename A>
void add_gradient_sums(const A* g, const A* z, const A* x, int64_t count, int64_t C, const A* mean, const A* invstd,
                       A* s1, A* s2, const A* a = nullptr, A* scaled = nullptr) {
  using V = Vectorized<A>;
  for (int64_t p = 0; p < count; ++p) {
    const A *gp = g + p * C, *zp = z + p * C, *xp = x + p * C;
    FOR_LANES(C) {
      const V gg = V::blendv(V(A(0)), L(gp), L(zp) > V(A(0)));
      S(L(s1) + gg, s1);
      S(L(s2) + gg * (L(xp) - L(mean)) * L(invstd), s2);
      if (scaled) S(L(a) * gg, scaled + p * C);
    }
  }
}

// The gradients and coefficients from the two sums.
template <typename A>
PoolGradient finish_gradient(const Shape& s, std::vector<double> s1, std::vector<double> s2, const at::Tensor& weight,
                             const at::Tensor& mean, const at::Tensor& invstd) {
  const int64_t C = s.C;
  const A *mp = mean.data_ptr<A>(), *isp = invstd.data_ptr<A>();
  PoolGradient result{std::move(s1), std::move(s2), std::vector<double>(C), std::vector<double>(C),
                      std::vector<double>(C), {}, {}};
  result.grad_weight = at::tensor(result.s2, at::TensorOptions().dtype(at::kDouble)).to(weight.scalar_type());
  result.grad_bias = at::tensor(result.s1, at::TensorOptions().dtype(at::kDouble)).to(weight.scalar_type());
  const double M = double(s.N) * s.H * s.W;
  at::Tensor w64 = weight.to(at::kDouble).contiguous();
  for (int64_t c = 0; c < C; ++c) {
    const double ac = w64.data_ptr<double>()[c] * isp[c], k1 = result.s1[c] / M, k2 = result.s2[c] / M;
    result.a[c] = ac;
    result.c1[c] = -ac * isp[c] * k2;
    result.c0[c] = -ac * k1 + ac * isp[c] * k2 * mp[c];
  }
  return result;
}

template <typename scalar_t>
PoolGradient pool_gradient(const Shape& s, const at::Tensor& dz, const at::Tensor& out, const at::Tensor& x_selected,
                           const at::Tensor& weight, const at::Tensor& mean, const at::Tensor& invstd) {
  using A = acc_t<scalar_t>;
  const int64_t C = s.C;
  const scalar_t *dzp = dz.data_ptr<scalar_t>(), *zp = out.data_ptr<scalar_t>();
  const scalar_t* xsp = x_selected.data_ptr<scalar_t>();
  const A *mp = mean.data_ptr<A>(), *isp = invstd.data_ptr<A>();
  const int64_t P = s.N * s.Ho * s.Wo;  // pooled positions
  const int64_t sum_blocks = std::min(kBlocks, P);
  std::vector<double> part1(sum_blocks * C, 0.0), part2(sum_blocks * C, 0.0);
  at::parallel_for(0, sum_blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<A> g(C), z(C), xv(C), s1(C), s2(C);
    for (int64_t b = b0; b < b1; ++b) {
      std::fill(s1.begin(), s1.end(), A(0));
      std::fill(s2.begin(), s2.end(), A(0));
      for (int64_t r = P * b / sum_blocks; r < P * (b + 1) / sum_blocks; ++r) {
        at::vec::convert(dzp + r * C, g.data(), C);
        at::vec::convert(zp + r * C, z.data(), C);
        at::vec::convert(xsp + r * C, xv.data(), C);
        add_gradient_sums(g.data(), z.data(), xv.data(), 1, C, mp, isp, s1.data(), s2.data());
      }
      for (int64_t c = 0; c < C; ++c) part1[b * C + c] = s1[c], part2[b * C + c] = s2[c];
    }
  });
  std::vector<double> s1(C, 0.0), s2(C, 0.0);
  for (int64_t b = 0; b < sum_blocks; ++b)
    for (int64_t c = 0; c < C; ++c) s1[c] += part1[b * C + c], s2[c] += part2[b * C + c];
  return finish_gradient<A>(s, std::move(s1), std::move(s2), weight, mean, invstd);
}

// x's gradient, given the input row by row: fill(n, h, w0, tile, dst) writes the widened input values
// of columns [w0, w0 + tile) of row h of sample n, w0 ascending from 0 within a row; then
// sink(n, h, w0, tile, d) receives their gradient d (tile * C values).
template <typename scalar_t, typename Fill, typename Sink>
void pool_backward(const Fill& fill, const Sink& sink, const Shape& s, const PoolGradient& grad,
                   const at::Tensor& dz, const at::Tensor& out, const at::Tensor& selected) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  const int64_t N = s.N, C = s.C, H = s.H, W = s.W, ph = s.ph, pw = s.pw, Ho = s.Ho, Wo = s.Wo;
  const scalar_t *dzp = dz.data_ptr<scalar_t>(), *zp = out.data_ptr<scalar_t>();
  const uint8_t* sp = selected.data_ptr<uint8_t>();
  std::vector<A> a(C), c0(C), c1(C);
  for (int64_t c = 0; c < C; ++c) a[c] = A(grad.a[c]), c0[c] = A(grad.c0[c]), c1[c] = A(grad.c1[c]);
  at::parallel_for(0, N * H, 1, [&](int64_t r0, int64_t r1) {
    std::vector<A> xr(kTile * C), dr(kTile * C), g(Wo * C), z(Wo * C), sel(Wo * C);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / H, h = r % H, ho = h / ph, i = h % ph;
      const bool pooled_row = ho < Ho;
      if (pooled_row) {
        const int64_t o = (n * Ho + ho) * Wo * C;
        at::vec::convert(dzp + o, g.data(), Wo * C);
        at::vec::convert(zp + o, z.data(), Wo * C);
        for (int64_t e = 0; e < Wo * C; ++e) sel[e] = A(sp[o + e]);
      }
      for (int64_t w0 = 0; w0 < W; w0 += kTile) {
        const int64_t tile = std::min(kTile, W - w0);
        fill(n, h, w0, tile, xr.data());
        for (int64_t w = w0; w < w0 + tile; ++w) {
          const int64_t wo = w / pw;
          const bool in_window = pooled_row && wo < Wo;
          const A t = A(i * pw + w % pw);
          const A* xw = xr.data() + (w - w0) * C;
          A* dw = dr.data() + (w - w0) * C;
          FOR_LANES(C) {
            V d = L(c0.data()) + L(c1.data()) * L(xw);
            if (in_window) {
              const int64_t e = wo * C + j;
              V mine = (V::loadu(sel.data() + e, k) == V(t)) & (V::loadu(z.data() + e, k) > V(A(0)));
              d = d + V::blendv(V(A(0)), L(a.data()) * V::loadu(g.data() + e, k), mine);
            }
            S(d, dw);
          }
        }
        sink(n, h, w0, tile, dr.data());
      }
    }
  });
}

Shape shape_of(const at::Tensor& x, int64_t C, int64_t ph, int64_t pw) {
  const int64_t H = x.size(2), W = x.size(3);
  TORCH_CHECK(H / ph > 0 && W / pw > 0 && ph * pw <= 255, "hwr blocks: pooling window larger than the input");
  return {x.size(0), C, H, W, ph, pw, H / ph, W / pw};
}

// ---------------------------------------------------------------------------------------------------
// bn_pool_relu: x is the block's convolution output.

Forward bn_pool_relu_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                             at::Tensor& running_mean, at::Tensor& running_var, bool training, double momentum,
                             double eps, int64_t ph, int64_t pw) {
  TORCH_CHECK(x.device().is_cpu() && x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "hwr blocks: the input must be a 4-d channels_last CPU tensor");
  const Shape s = shape_of(x, x.size(1), ph, pw);
  at::NoGradGuard no_grad;
  Forward result;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "bn_pool_relu_forward", [&] {
    using A = acc_t<scalar_t>;
    const scalar_t* xp = x.data_ptr<scalar_t>();
    auto fill = [&](int64_t n, int64_t h, A* dst, A*) {
      at::vec::convert(xp + (n * s.H + h) * s.W * s.C, dst, s.W * s.C);
    };
    result = pool_forward<scalar_t>(fill, 0, s, x.options(), weight, bias, running_mean, running_var, training,
                                    momentum, eps);
  });
  return result;
}

// Returns (grad_x, grad_weight, grad_bias) for training-mode batch norm.
std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_pool_relu_backward(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& x, const at::Tensor& selected,
    const at::Tensor& x_selected, const at::Tensor& weight, const at::Tensor& mean, const at::Tensor& invstd,
    int64_t ph, int64_t pw) {
  const Shape s = shape_of(x, x.size(1), ph, pw);
  at::Tensor dx = at::empty_like(x, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  at::Tensor dz = grad_out.contiguous(at::MemoryFormat::ChannelsLast);
  PoolGradient grad;
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "bn_pool_relu_backward", [&] {
    using A = acc_t<scalar_t>;
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* dxp = dx.data_ptr<scalar_t>();
    auto at_row = [&](int64_t n, int64_t h, int64_t w0) { return ((n * s.H + h) * s.W + w0) * s.C; };
    auto fill = [&](int64_t n, int64_t h, int64_t w0, int64_t tile, A* dst) {
      at::vec::convert(xp + at_row(n, h, w0), dst, tile * s.C);
    };
    auto sink = [&](int64_t n, int64_t h, int64_t w0, int64_t tile, const A* d) {
      at::vec::convert(d, dxp + at_row(n, h, w0), tile * s.C);
    };
    grad = pool_gradient<scalar_t>(s, dz, out, x_selected, weight, mean, invstd);
    pool_backward<scalar_t>(fill, sink, s, grad, dz, out, selected);
  });
  return {dx, grad.grad_weight, grad.grad_bias};
}

// ---------------------------------------------------------------------------------------------------
// conv_bn_pool_relu: the first block, convolution included. image (N, 1, H, W) in acc_t of the output
// dtype; conv_weight (9, C) (the 3x3 kernel's taps, row by row) and conv_bias (C) in acc_t; the
// convolution has padding 1 and stride 1. The image gets no gradient.

// The image's rows first .. first + count - 1 of sample n, zero-padded to W + 2 columns (rows outside
// the image are zeros): pad[i * (W + 2) + 1 + w] is row first + i, column w.
template <typename A>
void padded_rows(const A* image, int64_t n, int64_t first, int64_t count, int64_t H, int64_t W, A* pad) {
  for (int64_t i = 0; i < count; ++i) {
    A* row = pad + i * (W + 2);
    row[0] = row[W + 1] = A(0);
    const int64_t hh = first + i;
    if (hh < 0 || hh >= H) std::fill(row + 1, row + W + 1, A(0));
    else std::copy(image + (n * H + hh) * W, image + (n * H + hh + 1) * W, row + 1);
  }
}

// The convolution's output along one row, from its padded rows: C values per column. Four columns at
// a time: each tap's weights are loaded once for the four, and the four sums are
// independent chains of multiply-adds (one column's nine in a row would wait on each other).
template <typename A>
void convolve(const A* pad, int64_t W, const A* taps, const A* conv_bias, int64_t C, A* dst) {
  using V = Vectorized<A>;
  int64_t w = 0;
  for (; w + 4 <= W; w += 4) {
    A* out = dst + w * C;
    FOR_LANES(C) {
      V s0 = L(conv_bias), s1 = s0, s2 = s0, s3 = s0;
      for (int t = 0; t < 9; ++t) {
        const V tap = L(taps + t * C);
        const A* in = pad + (t / 3) * (W + 2) + w + t % 3;
        s0 = at::vec::fmadd(tap, V(in[0]), s0);
        s1 = at::vec::fmadd(tap, V(in[1]), s1);
        s2 = at::vec::fmadd(tap, V(in[2]), s2);
        s3 = at::vec::fmadd(tap, V(in[3]), s3);
      }
      S(s0, out), S(s1, out + C), S(s2, out + 2 * C), S(s3, out + 3 * C);
    }
  }
  for (; w < W; ++w) {
    A* out = dst + w * C;
    FOR_LANES(C) {
      V acc = L(conv_bias);
      for (int t = 0; t < 9; ++t) acc = at::vec::fmadd(L(taps + t * C), V(pad[(t / 3) * (W + 2) + w + t % 3]), acc);
      S(acc, out);
    }
  }
}

Forward conv_bn_pool_relu_forward(const at::Tensor& image, const at::Tensor& conv_weight, const at::Tensor& conv_bias,
                                  const at::Tensor& weight, const at::Tensor& bias, at::Tensor& running_mean,
                                  at::Tensor& running_var, bool training, double momentum, double eps, int64_t ph,
                                  int64_t pw, at::ScalarType out_dtype) {
  TORCH_CHECK(image.device().is_cpu() && image.dim() == 4 && image.size(1) == 1 && image.is_contiguous(),
              "hwr blocks: the image must be a contiguous (N, 1, H, W) CPU tensor");
  const int64_t C = conv_weight.size(1);
  const Shape s = shape_of(image, C, ph, pw);
  at::NoGradGuard no_grad;
  Forward result;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, out_dtype, "conv_bn_pool_relu_forward", [&] {
    using A = acc_t<scalar_t>;
    TORCH_CHECK(image.scalar_type() == c10::CppTypeToScalarType<A>::value &&
                conv_weight.scalar_type() == image.scalar_type() && conv_bias.scalar_type() == image.scalar_type(),
                "hwr blocks: the image and the convolution's parameters must be ", c10::CppTypeToScalarType<A>::value);
    const A *ip = image.data_ptr<A>(), *taps = conv_weight.data_ptr<A>(), *cb = conv_bias.data_ptr<A>();
    auto fill = [&](int64_t n, int64_t h, A* dst, A* pad) {
      padded_rows(ip, n, h - 1, 3, s.H, s.W, pad);
      convolve(pad, s.W, taps, cb, C, dst);
    };
    result = pool_forward<scalar_t>(fill, 3 * (s.W + 2), s, image.options().dtype(out_dtype), weight, bias, running_mean,
                                    running_var, training, momentum, eps);
  });
  return result;
}

// The convolution's gradient without its full-size output. With u_k(p) the image value under tap k at
// pixel p, x = conv(image) = sum_k taps[k] u_k + shift and dx = a g [chosen] + c0 + c1 x (pool_gradient),
// the weight gradient sum_p dx(p) u_k(p) is
//   a sum_{chosen p} g(p) u_k(p)                          (over the pooled positions only)
//   + c0 S_k + c1 (sum_k' taps[k'] G_k'k + shift S_k)     (S_k = sum_p u_k(p), G = sum_p u(p) u(p)^T)
// and the bias gradient a s1 + c0 M + c1 (sum_k taps[k] S_k + shift M) (zero but for rounding: batch
// norm removes the bias). So backward reads the pooled tensors and the image once, and neither
// recomputes the convolution nor forms its full-size gradient.

constexpr int kTaps = 9;
constexpr int kMoments = kTaps + kTaps * (kTaps + 1) / 2;  // S (9), then G's upper triangle row by row (45)

// Adds S_k and G's upper triangle over the W pixels of one image row to acc (kMoments vectors of lanes):
// the image's padded rows h-1, h, h+1 start at rows, `stride` apart.
template <typename A>
void add_moments_of_taps(const A* rows, int64_t stride, int64_t W, Vectorized<A>* acc) {
  using V = Vectorized<A>;
  for (int64_t w = 0; w < W; w += V::size()) {
    const int64_t k = std::min<int64_t>(V::size(), W - w);  // partial loads fill the other lanes with zeros
    V u[kTaps];
    for (int t = 0; t < kTaps; ++t) u[t] = V::loadu(rows + (t / 3) * stride + w + t % 3, k);
    int e = kTaps;
    for (int t = 0; t < kTaps; ++t) {
      acc[t] = acc[t] + u[t];
      for (int t2 = t; t2 < kTaps; ++t2, ++e) acc[e] = at::vec::fmadd(u[t], u[t2], acc[e]);
    }
  }
}

// Adds sum ag * u_k over the chosen elements of one pooled row to sums (kTaps * C): ag (Wo * C) is a g
// where ReLU passed the gradient, else 0; sel (Wo * C) the chosen places; rows the padded image rows
// of the window's first row - 1 .. last row + 1, `stride` apart.
template <typename A>
void add_chosen_taps(const A* rows, int64_t stride, const Shape& s, const A* ag, const A* sel, A* sums) {
  using V = Vectorized<A>;
  const int64_t C = s.C, pw = s.pw, window = s.ph * s.pw;
  FOR_LANES(C) {
    V acc[kTaps];
    for (int t = 0; t < kTaps; ++t) acc[t] = L(sums + t * C);
    for (int64_t wo = 0; wo < s.Wo; ++wo) {
      const V g = V::loadu(ag + wo * C + j, k), at = V::loadu(sel + wo * C + j, k);
      for (int64_t t = 0; t < window; ++t) {
        const V gt = V::blendv(V(A(0)), g, at == V(A(t)));
        const A* in = rows + (t / pw) * stride + wo * pw + t % pw;  // tap (kh, kw) reads in[kh * stride + kw]
        for (int tap = 0; tap < kTaps; ++tap) acc[tap] = at::vec::fmadd(gt, V(in[(tap / 3) * stride + tap % 3]), acc[tap]);
      }
    }
    for (int t = 0; t < kTaps; ++t) S(acc[t], sums + t * C);
  }
}

// Returns (grad_conv_weight (9, C), grad_conv_bias (C), grad_weight, grad_bias), the first two in double.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> conv_bn_pool_relu_backward(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& image, const at::Tensor& conv_weight,
    const at::Tensor& conv_bias, const at::Tensor& selected, const at::Tensor& x_selected, const at::Tensor& weight,
    const at::Tensor& mean, const at::Tensor& invstd, int64_t ph, int64_t pw) {
  const int64_t C = conv_weight.size(1);
  const Shape s = shape_of(image, C, ph, pw);
  const int64_t P = s.N * s.Ho, blocks = std::min(kBlocks, P);  // pooled rows, fixed blocks of them
  // per block, summed in double: the chosen positions' sums (kTaps * C), batch norm's two sums s1 and s2
  // (2 * C), then S and G (kMoments)
  const int64_t part_size = (kTaps + 2) * C + kMoments;
  std::vector<double> parts(blocks * part_size, 0.0);
  at::Tensor dz = grad_out.contiguous(at::MemoryFormat::ChannelsLast);
  PoolGradient grad;
  std::vector<double> taps(kTaps * C), shift(C);
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, out.scalar_type(), "conv_bn_pool_relu_backward", [&] {
    using A = acc_t<scalar_t>;
    using V = Vectorized<A>;
    const A *ip = image.data_ptr<A>(), *tp = conv_weight.data_ptr<A>(), *cb = conv_bias.data_ptr<A>();
    std::copy(tp, tp + kTaps * C, taps.begin());
    std::copy(cb, cb + C, shift.begin());
    const scalar_t *dzp = dz.data_ptr<scalar_t>(), *zp = out.data_ptr<scalar_t>(), *xsp = x_selected.data_ptr<scalar_t>();
    const uint8_t* sp = selected.data_ptr<uint8_t>();
    const A *mp = mean.data_ptr<A>(), *isp = invstd.data_ptr<A>();
    const int64_t W = s.W, Wo = s.Wo, stride = W + 2;
    at::Tensor w64 = weight.to(at::kDouble).contiguous();
    std::vector<A> a(C);  // batch norm's y = a x + b: a does not depend on the sums
    for (int64_t c = 0; c < C; ++c) a[c] = A(w64.data_ptr<double>()[c] * isp[c]);
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      std::vector<A> pad((s.ph + 2) * stride), tail(3 * stride), ag(Wo * C), z(Wo * C), xv(Wo * C), sel(Wo * C),
          sums((kTaps + 2) * C), lanes(V::size());
      V acc[kMoments];
      for (int64_t blk = b0; blk < b1; ++blk) {
        double* part = parts.data() + blk * part_size;
        for (int64_t r = P * blk / blocks; r < P * (blk + 1) / blocks; ++r) {
          const int64_t n = r / s.Ho, ho = r % s.Ho, o = r * Wo * C;
          padded_rows(ip, n, ho * s.ph - 1, s.ph + 2, s.H, W, pad.data());
          at::vec::convert(dzp + o, ag.data(), Wo * C);
          at::vec::convert(zp + o, z.data(), Wo * C);
          at::vec::convert(xsp + o, xv.data(), Wo * C);
          for (int64_t e = 0; e < Wo * C; ++e) sel[e] = A(sp[o + e]);
          std::fill(sums.begin(), sums.end(), A(0));
          A* s1 = sums.data() + kTaps * C;  // then s2
          add_gradient_sums(ag.data(), z.data(), xv.data(), Wo, C, mp, isp, s1, s1 + C, a.data(), ag.data());
          add_chosen_taps(pad.data(), stride, s, ag.data(), sel.data(), sums.data());
          for (int64_t e = 0; e < (kTaps + 2) * C; ++e) part[e] += sums[e];
          // S and G over every pixel: the window's rows, and after the last window the rows below it
          for (int m = 0; m < kMoments; ++m) acc[m] = V(A(0));
          for (int64_t i = 0; i < s.ph; ++i) add_moments_of_taps(pad.data() + i * stride, stride, W, acc);
          if (ho == s.Ho - 1) {
            for (int64_t h = s.Ho * s.ph; h < s.H; ++h) {
              padded_rows(ip, n, h - 1, 3, s.H, W, tail.data());
              add_moments_of_taps(tail.data(), stride, W, acc);
            }
          }
          for (int m = 0; m < kMoments; ++m) {
            acc[m].store(lanes.data());
            double total = 0;
            for (int64_t l = 0; l < V::size(); ++l) total += lanes[l];
            part[(kTaps + 2) * C + m] += total;
          }
        }
      }
    });
  });
  std::vector<double> total(part_size, 0.0);
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t e = 0; e < part_size; ++e) total[e] += parts[blk * part_size + e];
  const double* chosen = total.data();
  const double* S = total.data() + (kTaps + 2) * C;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, out.scalar_type(), "conv_bn_pool_relu_backward", [&] {
    const double* sums = total.data() + kTaps * C;
    grad = finish_gradient<acc_t<scalar_t>>(s, std::vector<double>(sums, sums + C), std::vector<double>(sums + C, S),
                                            weight, mean, invstd);
  });
  double G[kTaps][kTaps];
  for (int t = 0, e = kTaps; t < kTaps; ++t)
    for (int t2 = t; t2 < kTaps; ++t2, ++e) G[t][t2] = G[t2][t] = S[e];
  const double M = double(s.N) * s.H * s.W;
  at::Tensor dtaps = at::empty({kTaps, C}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor dshift = at::empty({C}, at::TensorOptions().dtype(at::kDouble));
  double *dt = dtaps.data_ptr<double>(), *ds = dshift.data_ptr<double>();
  for (int64_t c = 0; c < C; ++c) {
    double x_sum = shift[c] * M;  // sum_p x(p)
    for (int t = 0; t < kTaps; ++t) x_sum += taps[t * C + c] * S[t];
    for (int t = 0; t < kTaps; ++t) {
      double xu = shift[c] * S[t];  // sum_p x(p) u_t(p)
      for (int t2 = 0; t2 < kTaps; ++t2) xu += taps[t2 * C + c] * G[t2][t];
      dt[t * C + c] = chosen[t * C + c] + grad.c0[c] * S[t] + grad.c1[c] * xu;
    }
    ds[c] = grad.a[c] * grad.s1[c] + grad.c0[c] * M + grad.c1[c] * x_sum;
  }
  return {dtaps, dshift, grad.grad_weight, grad.grad_bias};
}

}  // namespace

TORCH_LIBRARY(hwr_blocks, m) {
  m.def("bn_pool_relu_forward(Tensor x, Tensor weight, Tensor bias, Tensor(a!) running_mean, "
        "Tensor(b!) running_var, bool training, float momentum, float eps, int ph, int pw) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("bn_pool_relu_backward(Tensor grad_out, Tensor out, Tensor x, Tensor selected, Tensor x_selected, "
        "Tensor weight, Tensor mean, Tensor invstd, int ph, int pw) -> (Tensor, Tensor, Tensor)");
  m.def("conv_bn_pool_relu_forward(Tensor image, Tensor conv_weight, Tensor conv_bias, Tensor weight, Tensor bias, "
        "Tensor(a!) running_mean, Tensor(b!) running_var, bool training, float momentum, float eps, int ph, int pw, "
        "ScalarType out_dtype) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("conv_bn_pool_relu_backward(Tensor grad_out, Tensor out, Tensor image, Tensor conv_weight, Tensor conv_bias, "
        "Tensor selected, Tensor x_selected, Tensor weight, Tensor mean, Tensor invstd, int ph, int pw) "
        "-> (Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(hwr_blocks, CPU, m) {
  m.impl("bn_pool_relu_forward", bn_pool_relu_forward);
  m.impl("bn_pool_relu_backward", bn_pool_relu_backward);
  m.impl("conv_bn_pool_relu_forward", conv_bn_pool_relu_forward);
  m.impl("conv_bn_pool_relu_backward", conv_bn_pool_relu_backward);
}
