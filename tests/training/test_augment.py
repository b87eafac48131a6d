"""hwr.training.augment: the random affine warp moves, scales and slants ink as asked and pads with white."""

import torch

from hwr.training.augment import MASK_STRIPES, augment_batch, mask_batch

H, W = 64, 256


def page(n: int = 1) -> torch.Tensor:
    return torch.full((n, H, W), 255, dtype=torch.uint8)


def ink_columns(images: torch.Tensor) -> torch.Tensor:
    """(N,) mean column of each image's ink, weighted by darkness."""
    ink = 255.0 - images.float()
    cols = torch.arange(W, dtype=torch.float32)
    return (ink.sum(1) * cols).sum(1) / ink.sum((1, 2))


def ink_rows(images: torch.Tensor) -> torch.Tensor:
    ink = 255.0 - images.float()
    rows = torch.arange(H, dtype=torch.float32)
    return (ink.sum(2) * rows).sum(1) / ink.sum((1, 2))


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_identity_warp_changes_nothing():
    images = page(3)
    images[:, 20:40, 60:200] = torch.randint(0, 256, (3, 20, 140), generator=generator(1), dtype=torch.uint8)
    out = augment_batch(images, generator(), shear=0.0, scale=(1.0, 1.0), shift=(0.0, 0.0))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(out, images)


def test_padding_stays_white():
    """White pages stay white under any warp, and shrinking a black page leaves a white border."""
    assert torch.equal(augment_batch(page(8), generator()), page(8))
    black = torch.zeros((1, H, W), dtype=torch.uint8)
    out = augment_batch(black, generator(), shear=0.0, scale=(0.8, 0.8), shift=(0.0, 0.0))[0]
    assert (out[:, :20] == 255).all() and (out[:, -20:] == 255).all()  # 10 % of 256 each side
    assert (out[:4] == 255).all() and (out[-4:] == 255).all()  # 10 % of 64 each side, less a row
    assert (out[10:-10, 30:-30] == 0).all()


def test_scale_shrinks_ink_about_the_centre():
    images = page()
    images[0, 30:34, 28:228] = 0  # a horizontal stroke 200 px long, centred
    out = augment_batch(images, generator(), shear=0.0, scale=(0.8, 0.8), shift=(0.0, 0.0))[0]
    columns = torch.nonzero((out < 128).any(0)).flatten()
    assert abs((columns.max() - columns.min() + 1).item() - 160) <= 2  # 0.8 x 200
    assert abs(ink_columns(out[None]).item() - ink_columns(images).item()) < 1


def test_shift_moves_ink_within_its_bounds_both_ways():
    images = page(32)
    images[:, 28:36, 120:136] = 0  # a blob in the middle
    out = augment_batch(images, generator(3), shear=0.0, scale=(1.0, 1.0), shift=(0.1, 0.0))
    moved = ink_columns(out) - ink_columns(images)
    assert moved.abs().max() <= 0.1 * W / 2 + 0.5  # shift is a fraction of the half-width
    assert moved.min() < -3 and moved.max() > 3  # left and right, at random
    assert (ink_rows(out) - ink_rows(images)).abs().max() < 0.5  # no vertical shift asked
    assert torch.allclose((255.0 - out.float()).sum((1, 2)), (255.0 - images.float()).sum((1, 2)), rtol=0.02)


def test_shear_slants_a_vertical_stroke():
    images = page(16)
    images[:, 8:56, 126:130] = 0
    straight = augment_batch(images, generator(5), shear=0.0, scale=(1.0, 1.0), shift=(0.0, 0.0))
    slanted = augment_batch(images, generator(5), shear=0.3, scale=(1.0, 1.0), shift=(0.0, 0.0))

    def lean(batch):  # ink column at the stroke's bottom minus at its top
        return ink_columns(batch[:, 48:56]) - ink_columns(batch[:, 8:16])

    assert lean(straight).abs().max() < 0.5
    assert lean(slanted).abs().max() > 10 and (lean(slanted) > 0).any() and (lean(slanted) < 0).any()


def test_the_same_generator_state_gives_the_same_batch():
    images = page(6)
    images[:, 20:44, 40:220] = 0
    a = augment_batch(images, generator(7))
    b = augment_batch(images, generator(7))
    c = augment_batch(images, generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # each image gets its own warp


def test_masking_whitens_whole_columns_of_about_the_share_asked():
    images = torch.zeros((64, H, W), dtype=torch.uint8)  # all ink: every masked column turns white
    out = mask_batch(images, generator(), share=0.1)
    white = (out == 255).all(dim=1)  # (N, W): columns masked top to bottom
    assert torch.equal(out == 255, white.unsqueeze(1).expand_as(out))  # whole columns, nothing else
    per_image = white.sum(1).float()
    stripe = round(0.1 * W / MASK_STRIPES)
    assert per_image.max() <= MASK_STRIPES * stripe and per_image.min() >= stripe  # overlapping stripes hide less
    assert per_image.mean() > 0.8 * MASK_STRIPES * stripe
    assert len({tuple(torch.nonzero(row).flatten().tolist()) for row in white}) > 32  # each image its own places


def test_masking_is_seeded_and_leaves_the_input_alone():
    images = torch.randint(0, 256, (8, H, W), generator=generator(3), dtype=torch.uint8)
    before = images.clone()
    a, b = mask_batch(images, generator(5), 0.2), mask_batch(images, generator(5), 0.2)
    assert torch.equal(a, b) and torch.equal(images, before)
    assert not torch.equal(a, mask_batch(images, generator(6), 0.2))
