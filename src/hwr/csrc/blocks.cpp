// BatchNorm2d -> MaxPool2d -> ReLU, the end of each of the CRNN's conv blocks, for channels_last CPU
// tensors: two passes over the block's full-size activations forward (statistics; pooling) and one
// backward, where torch's three layers make about eight (normalised copy, pooled indices as int64,
// a zero-filled gradient, two passes of batch norm's backward...).
//
// Why pooling can come first: batch norm is y = a x + b per channel; for a >= 0 the window's largest y
// is at its largest x, for a < 0 at its smallest. So the forward pass pools x itself (by a's sign),
// normalises only the selected values, and keeps which element of each window was chosen (the first
// one on ties, as max-pool does). Backward, batch norm's gradient needs two per-channel sums of the
// full-size gradient, which is zero outside the chosen elements, so they are sums over the pooled
// tensor; then one pass writes the input's gradient.
//
// Pooling: kernel = stride = (ph, pw), no padding, floor mode (rows/columns past the last whole window
// take no part in pooling, but do in the statistics and get batch norm's gradient).
// Memory: x (N, H, W, C) as channels_last stores it; outputs (N, Ho, Wo, C).

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

constexpr int64_t kBlocks = 64;  // fixed reduction blocks: sums do not depend on the thread count

// Per-channel sum and sum of squares over `rows` rows of C values (fixed blocks, each summed in
// acc_t in runs of 64 rows, then in double; the blocks added in order).
template <typename scalar_t>
void channel_moments(const scalar_t* x, int64_t rows, int64_t C, std::vector<double>& sum, std::vector<double>& sq) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  const int64_t blocks = std::min(kBlocks, std::max<int64_t>(rows, 1));
  std::vector<double> part_sum(blocks * C, 0.0), part_sq(blocks * C, 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<A> row(C), s(C), q(C);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
      double* ps = part_sum.data() + b * C;
      double* pq = part_sq.data() + b * C;
      for (int64_t r = r0; r < r1; r += 64) {
        std::fill(s.begin(), s.end(), A(0));
        std::fill(q.begin(), q.end(), A(0));
        for (int64_t rr = r; rr < std::min(r + 64, r1); ++rr) {
          at::vec::convert(x + rr * C, row.data(), C);
          FOR_LANES(C) {
            V v = L(row.data());
            S(L(s.data()) + v, s.data());
            S(L(q.data()) + v * v, q.data());
          }
        }
        for (int64_t c = 0; c < C; ++c) ps[c] += s[c], pq[c] += q[c];
      }
    }
  });
  sum.assign(C, 0.0);
  sq.assign(C, 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < C; ++c) sum[c] += part_sum[b * C + c], sq[c] += part_sq[b * C + c];
}

// Returns (out, selected, x_selected, mean, invstd); in training also updates the running statistics.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> bn_pool_relu_forward(
    const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::Tensor& running_mean,
    at::Tensor& running_var, bool training, double momentum, double eps, int64_t ph, int64_t pw) {
  TORCH_CHECK(x.device().is_cpu() && x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "hwr blocks: the input must be a 4-d channels_last CPU tensor");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = H / ph, Wo = W / pw;
  TORCH_CHECK(Ho > 0 && Wo > 0 && ph * pw <= 255, "hwr blocks: pooling window larger than the input");
  auto stats_type = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor mean = at::empty({C}, x.options().dtype(stats_type));
  at::Tensor invstd = at::empty({C}, x.options().dtype(stats_type));
  at::Tensor out = at::empty({N, C, Ho, Wo}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  // what backward needs: only in training (eval-mode batch norm with gradients is left to torch)
  const int64_t kept = training ? N : 0;
  at::Tensor selected = at::empty({kept, Ho, Wo, C}, x.options().dtype(at::kByte));
  at::Tensor x_selected = at::empty({kept, Ho, Wo, C}, x.options());
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "bn_pool_relu_forward", [&] {
    using A = acc_t<scalar_t>;
    using V = Vectorized<A>;
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const int64_t M = N * H * W;
    std::vector<A> a(C), b(C), sign(C);
    at::Tensor w64 = weight.to(at::kDouble).contiguous(), b64 = bias.to(at::kDouble).contiguous();
    const double *wd = w64.data_ptr<double>(), *bd = b64.data_ptr<double>();
    std::vector<double> m(C), is(C);
    if (training) {
      TORCH_CHECK(M > 1, "hwr blocks: batch norm needs more than one value per channel in training");
      std::vector<double> sum, sq;
      channel_moments<scalar_t>(xp, M, C, sum, sq);
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
    } else {
      at::Tensor rm = running_mean.to(at::kDouble).contiguous(), rv = running_var.to(at::kDouble).contiguous();
      for (int64_t c = 0; c < C; ++c) m[c] = rm.data_ptr<double>()[c], is[c] = 1.0 / std::sqrt(rv.data_ptr<double>()[c] + eps);
    }
    for (int64_t c = 0; c < C; ++c) {
      a[c] = A(wd[c] * is[c]);
      b[c] = A(bd[c] - m[c] * wd[c] * is[c]);
      sign[c] = a[c] >= 0 ? A(1) : A(-1);
      mean.data_ptr<A>()[c] = A(m[c]);
      invstd.data_ptr<A>()[c] = A(is[c]);
    }
    scalar_t* op = out.data_ptr<scalar_t>();
    scalar_t* xs = x_selected.data_ptr<scalar_t>();
    uint8_t* sp = selected.data_ptr<uint8_t>();
    const int64_t window = ph * pw;
    at::parallel_for(0, N * Ho, 1, [&](int64_t r0, int64_t r1) {
      std::vector<A> rows(ph * W * C), best(C), index(C), y(C);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / Ho, ho = r % Ho;
        at::vec::convert(xp + ((n * H + ho * ph) * W) * C, rows.data(), ph * W * C);
        for (int64_t wo = 0; wo < Wo; ++wo) {
          FOR_LANES(C) {
            const V s = L(sign.data());
            V top = V::loadu(rows.data() + (wo * pw) * C + j, k) * s, at(A(0));
            for (int64_t t = 1; t < window; ++t) {
              const int64_t i = t / pw, jj = t % pw;
              V v = V::loadu(rows.data() + (i * W + wo * pw + jj) * C + j, k) * s;
              V better = v > top;  // strictly: the first of equal values wins, as in max-pool
              top = V::blendv(top, v, better);
              at = V::blendv(at, V(A(t)), better);
            }
            V chosen = top * s;
            S(chosen, best.data());
            S(at, index.data());
            S(at::vec::maximum(L(a.data()) * chosen + L(b.data()), V(A(0))), y.data());
          }
          const int64_t o = (r * Wo + wo) * C;
          at::vec::convert(y.data(), op + o, C);
          if (training) {
            at::vec::convert(best.data(), xs + o, C);
            for (int64_t c = 0; c < C; ++c) sp[o + c] = static_cast<uint8_t>(index[c]);
          }
        }
      }
    });
  });
  return {out, selected, x_selected, mean, invstd};
}

// Returns (grad_x, grad_weight, grad_bias) for training-mode batch norm.
std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_pool_relu_backward(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& x, const at::Tensor& selected,
    const at::Tensor& x_selected, const at::Tensor& weight, const at::Tensor& mean, const at::Tensor& invstd,
    int64_t ph, int64_t pw) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = H / ph, Wo = W / pw;
  at::Tensor dz = grad_out.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor dx = at::empty_like(x, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  at::Tensor grad_weight, grad_bias;
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "bn_pool_relu_backward", [&] {
    using A = acc_t<scalar_t>;
    using V = Vectorized<A>;
    const scalar_t *dzp = dz.data_ptr<scalar_t>(), *zp = out.data_ptr<scalar_t>(), *xp = x.data_ptr<scalar_t>();
    const scalar_t* xsp = x_selected.data_ptr<scalar_t>();
    const uint8_t* sp = selected.data_ptr<uint8_t>();
    const A *mp = mean.data_ptr<A>(), *isp = invstd.data_ptr<A>();
    const int64_t P = N * Ho * Wo;  // pooled rows
    // 1. the two sums, over the pooled rows: s1 = sum g, s2 = sum g * xhat (g: the gradient past ReLU)
    const int64_t blocks = std::min(kBlocks, P);
    std::vector<double> part1(blocks * C, 0.0), part2(blocks * C, 0.0);
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      std::vector<A> g(C), z(C), xv(C), s1(C), s2(C);
      for (int64_t b = b0; b < b1; ++b) {
        std::fill(s1.begin(), s1.end(), A(0));
        std::fill(s2.begin(), s2.end(), A(0));
        for (int64_t r = P * b / blocks; r < P * (b + 1) / blocks; ++r) {
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
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t c = 0; c < C; ++c) s1[c] += part1[b * C + c], s2[c] += part2[b * C + c];
    grad_weight = at::tensor(s2, at::TensorOptions().dtype(at::kDouble)).to(weight.scalar_type());
    grad_bias = at::tensor(s1, at::TensorOptions().dtype(at::kDouble)).to(weight.scalar_type());
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
    scalar_t* dxp = dx.data_ptr<scalar_t>();
    at::parallel_for(0, N * H, 1, [&](int64_t r0, int64_t r1) {
      std::vector<A> xr(W * C), dr(W * C), g(Wo * C), z(Wo * C), sel(Wo * C);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / H, h = r % H, ho = h / ph, i = h % ph;
        const bool pooled_row = ho < Ho;
        if (pooled_row) {
          const int64_t o = (n * Ho + ho) * Wo * C;
          at::vec::convert(dzp + o, g.data(), Wo * C);
          at::vec::convert(zp + o, z.data(), Wo * C);
          for (int64_t e = 0; e < Wo * C; ++e) sel[e] = A(sp[o + e]);
        }
        at::vec::convert(xp + r * W * C, xr.data(), W * C);
        for (int64_t w = 0; w < W; ++w) {
          const int64_t wo = w / pw;
          const bool in_window = pooled_row && wo < Wo;
          const A t = A(i * pw + w % pw);
          FOR_LANES(C) {
            V d = L(c0.data()) + L(c1.data()) * V::loadu(xr.data() + w * C + j, k);
            if (in_window) {
              const int64_t e = wo * C + j;
              V mine = (V::loadu(sel.data() + e, k) == V(t)) & (V::loadu(z.data() + e, k) > V(A(0)));
              d = d + V::blendv(V(A(0)), L(a.data()) * V::loadu(g.data() + e, k), mine);
            }
            d.store(dr.data() + w * C + j, k);
          }
        }
        at::vec::convert(dr.data(), dxp + r * W * C, W * C);
      }
    });
  });
  return {dx, grad_weight, grad_bias};
}

}  // namespace

TORCH_LIBRARY(hwr_blocks, m) {
  m.def("bn_pool_relu_forward(Tensor x, Tensor weight, Tensor bias, Tensor(a!) running_mean, "
        "Tensor(b!) running_var, bool training, float momentum, float eps, int ph, int pw) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("bn_pool_relu_backward(Tensor grad_out, Tensor out, Tensor x, Tensor selected, Tensor x_selected, "
        "Tensor weight, Tensor mean, Tensor invstd, int ph, int pw) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(hwr_blocks, CPU, m) {
  m.impl("bn_pool_relu_forward", bn_pool_relu_forward);
  m.impl("bn_pool_relu_backward", bn_pool_relu_backward);
}
