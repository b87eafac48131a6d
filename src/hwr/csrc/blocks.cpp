// BatchNorm2d -> MaxPool2d -> ReLU, the end of each of the CRNN's conv blocks, for channels_last CPU
// tensors: one pass over the block's full-size activations forward (pooling and statistics together)
// and one backward, where torch's three layers make about eight (normalised copy, pooled indices as
// int64, a zero-filled gradient, two passes of batch norm's backward...). The first block, whose
// convolution has one input channel, can also take its convolution in (conv_bn_pool_relu): its
// activations (32 values per pixel of the image) are then computed where they are used, forward and
// backward, and never stored.
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

// Backward, given the input row by row. fill(n, h, w0, tile, dst, scratch) writes the widened input
// values of columns [w0, w0 + tile) of row h of sample n, w0 ascending from 0 within a row; then
// sink(block, n, h, w0, tile, d, scratch) receives their gradient d (tile * C values). Both get the
// same per-thread scratch (`scratch_size` values). Rows are split into fixed blocks, so a sink may sum
// per block.
// Returns batch norm's (grad_weight, grad_bias).
template <typename scalar_t, typename Fill, typename Sink>
std::tuple<at::Tensor, at::Tensor> pool_backward(const Fill& fill, const Sink& sink, int64_t scratch_size,
                                                 int64_t blocks, const Shape& s,
                                                 const at::Tensor& grad_out, const at::Tensor& out,
                                                 const at::Tensor& selected, const at::Tensor& x_selected,
                                                 const at::Tensor& weight, const at::Tensor& mean,
                                                 const at::Tensor& invstd) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  const int64_t N = s.N, C = s.C, H = s.H, W = s.W, ph = s.ph, pw = s.pw, Ho = s.Ho, Wo = s.Wo;
  at::Tensor dz = grad_out.contiguous(at::MemoryFormat::ChannelsLast);
  const scalar_t *dzp = dz.data_ptr<scalar_t>(), *zp = out.data_ptr<scalar_t>();
  const scalar_t* xsp = x_selected.data_ptr<scalar_t>();
  const uint8_t* sp = selected.data_ptr<uint8_t>();
  const A *mp = mean.data_ptr<A>(), *isp = invstd.data_ptr<A>();
  const int64_t P = N * Ho * Wo;  // pooled positions
  // 1. the two sums, over the pooled positions: s1 = sum g, s2 = sum g * xhat (g: the gradient past ReLU)
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
        FOR_LANES(C) {
          V gg = V::blendv(V(A(0)), L(g.data()), L(z.data()) > V(A(0)));
          S(L(s1.data()) + gg, s1.data());
          S(L(s2.data()) + gg * (L(xv.data()) - L(mp)) * L(isp), s2.data());
        }
      }
      for (int64_t c = 0; c < C; ++c) part1[b * C + c] = s1[c], part2[b * C + c] = s2[c];
    }
  });
  std::vector<double> s1(C, 0.0), s2(C, 0.0);
  for (int64_t b = 0; b < sum_blocks; ++b)
    for (int64_t c = 0; c < C; ++c) s1[c] += part1[b * C + c], s2[c] += part2[b * C + c];
  at::Tensor grad_weight = at::tensor(s2, at::TensorOptions().dtype(at::kDouble)).to(weight.scalar_type());
  at::Tensor grad_bias = at::tensor(s1, at::TensorOptions().dtype(at::kDouble)).to(weight.scalar_type());
  // 2. dx = a (g_scattered - s1/M - xhat s2/M) = a g_scattered + c0 + c1 x, per channel
  const double M = double(N) * H * W;
  at::Tensor w64 = weight.to(at::kDouble).contiguous();
  std::vector<A> a(C), c0(C), c1(C);
  for (int64_t c = 0; c < C; ++c) {
    const double ac = w64.data_ptr<double>()[c] * isp[c], k1 = s1[c] / M, k2 = s2[c] / M;
    a[c] = A(ac);
    c1[c] = A(-ac * isp[c] * k2);
    c0[c] = A(-ac * k1 + ac * isp[c] * k2 * mp[c]);
  }
  const int64_t rows = N * H;
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<A> xr(kTile * C), dr(kTile * C), g(Wo * C), z(Wo * C), sel(Wo * C), scratch(scratch_size);
    for (int64_t blk = b0; blk < b1; ++blk) {
      for (int64_t r = rows * blk / blocks; r < rows * (blk + 1) / blocks; ++r) {
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
          fill(n, h, w0, tile, xr.data(), scratch.data());
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
          sink(blk, n, h, w0, tile, dr.data(), scratch.data());
        }
      }
    }
  });
  return {grad_weight, grad_bias};
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
  std::tuple<at::Tensor, at::Tensor> grads;
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "bn_pool_relu_backward", [&] {
    using A = acc_t<scalar_t>;
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* dxp = dx.data_ptr<scalar_t>();
    auto at_row = [&](int64_t n, int64_t h, int64_t w0) { return ((n * s.H + h) * s.W + w0) * s.C; };
    auto fill = [&](int64_t n, int64_t h, int64_t w0, int64_t tile, A* dst, A*) {
      at::vec::convert(xp + at_row(n, h, w0), dst, tile * s.C);
    };
    auto sink = [&](int64_t, int64_t n, int64_t h, int64_t w0, int64_t tile, const A* d, A*) {
      at::vec::convert(d, dxp + at_row(n, h, w0), tile * s.C);
    };
    grads = pool_backward<scalar_t>(fill, sink, 0, std::min(kBlocks * 4, s.N * s.H), s, grad_out, out, selected,
                                    x_selected, weight, mean, invstd);
  });
  return {dx, std::get<0>(grads), std::get<1>(grads)};
}

// ---------------------------------------------------------------------------------------------------
// conv_bn_pool_relu: the first block, convolution included. image (N, 1, H, W) in acc_t of the output
// dtype; conv_weight (9, C) (the 3x3 kernel's taps, row by row) and conv_bias (C) in acc_t; the
// convolution has padding 1 and stride 1. The image gets no gradient.

// The image's rows h-1, h, h+1 of sample n, zero-padded to W + 2 columns: pad[k * (W + 2) + 1 + w].
template <typename A>
void padded_rows(const A* image, int64_t n, int64_t h, int64_t H, int64_t W, A* pad) {
  for (int64_t k = 0; k < 3; ++k) {
    A* row = pad + k * (W + 2);
    row[0] = row[W + 1] = A(0);
    const int64_t hh = h + k - 1;
    if (hh < 0 || hh >= H) std::fill(row + 1, row + W + 1, A(0));
    else std::copy(image + (n * H + hh) * W, image + (n * H + hh + 1) * W, row + 1);
  }
}

// The convolution's output at columns [w0, w0 + tile) from padded rows: C values per column. Four
// columns at a time: each tap's weights are loaded once for the four, and the four sums are
// independent chains of multiply-adds (one column's nine in a row would wait on each other).
template <typename A>
void convolve(const A* pad, int64_t W, int64_t w0, int64_t tile, const A* taps, const A* conv_bias, int64_t C, A* dst) {
  using V = Vectorized<A>;
  const int64_t end = w0 + tile;
  int64_t w = w0;
  for (; w + 4 <= end; w += 4) {
    A* out = dst + (w - w0) * C;
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
  for (; w < end; ++w) {
    A* out = dst + (w - w0) * C;
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
      padded_rows(ip, n, h, s.H, s.W, pad);
      convolve(pad, s.W, 0, s.W, taps, cb, C, dst);
    };
    result = pool_forward<scalar_t>(fill, 3 * (s.W + 2), s, image.options().dtype(out_dtype), weight, bias, running_mean,
                                    running_var, training, momentum, eps);
  });
  return result;
}

// Returns (grad_conv_weight (9, C), grad_conv_bias (C), grad_weight, grad_bias), the first two in double.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> conv_bn_pool_relu_backward(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& image, const at::Tensor& conv_weight,
    const at::Tensor& conv_bias, const at::Tensor& selected, const at::Tensor& x_selected, const at::Tensor& weight,
    const at::Tensor& mean, const at::Tensor& invstd, int64_t ph, int64_t pw) {
  const int64_t C = conv_weight.size(1);
  const Shape s = shape_of(image, C, ph, pw);
  const int64_t blocks = std::min(kBlocks, s.N * s.H);
  // per block: the convolution's weight gradient (9 * C) and bias gradient (C), summed in double
  std::vector<double> parts(blocks * 10 * C, 0.0);
  std::tuple<at::Tensor, at::Tensor> grads;
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, out.scalar_type(), "conv_bn_pool_relu_backward", [&] {
    using A = acc_t<scalar_t>;
    using V = Vectorized<A>;
    const A *ip = image.data_ptr<A>(), *taps = conv_weight.data_ptr<A>(), *cb = conv_bias.data_ptr<A>();
    const int64_t W = s.W, padded = 3 * (W + 2);
    // scratch: the padded image rows of the row in hand, then the tile's sums (9 taps, then the bias)
    auto fill = [&](int64_t n, int64_t h, int64_t w0, int64_t tile, A* dst, A* pad) {
      if (w0 == 0) padded_rows(ip, n, h, s.H, W, pad);
      convolve(pad, W, w0, tile, taps, cb, C, dst);
    };
    auto sink = [&](int64_t blk, int64_t, int64_t, int64_t w0, int64_t tile, const A* d, A* pad) {
      // the row's sums, in acc_t, of d times each tap's input (the weight) and of d (the bias): per
      // vector of channels, 10 accumulators in registers over the tile's columns
      A* acc = pad + padded;
      if (w0 == 0) std::fill(acc, acc + 10 * C, A(0));
      FOR_LANES(C) {
        V sums[10];
        for (int t = 0; t < 10; ++t) sums[t] = L(acc + t * C);
        for (int64_t w = w0; w < w0 + tile; ++w) {
          const V dv = L(d + (w - w0) * C);
          const A* taps_in = pad + w;  // the tap (kh, kw) reads pad[kh * (W + 2) + w + kw]
          for (int t = 0; t < 9; ++t) sums[t] = at::vec::fmadd(dv, V(taps_in[(t / 3) * (W + 2) + t % 3]), sums[t]);
          sums[9] = sums[9] + dv;
        }
        for (int t = 0; t < 10; ++t) S(sums[t], acc + t * C);
      }
      if (w0 + tile == W) {  // the row is done: into the block's double sums
        double* part = parts.data() + blk * 10 * C;
        for (int64_t e = 0; e < 10 * C; ++e) part[e] += acc[e];
      }
    };
    grads = pool_backward<scalar_t>(fill, sink, padded + 10 * C, blocks, s, grad_out, out, selected, x_selected, weight, mean, invstd);
  });
  std::vector<double> total(10 * C, 0.0);
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t e = 0; e < 10 * C; ++e) total[e] += parts[blk * 10 * C + e];
  at::Tensor all = at::tensor(total, at::TensorOptions().dtype(at::kDouble));
  return {all.slice(0, 0, 9 * C).view({9, C}), all.slice(0, 9 * C), std::get<0>(grads), std::get<1>(grads)};
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
