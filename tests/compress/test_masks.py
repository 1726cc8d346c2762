import itertools

import pytest
import torch

from multisource.compress.masks import is_nm_sparse, nm_mask, parse_nm, unstructured_mask


def test_nm_mask_removes_the_n_smallest_of_every_group_by_brute_force():
    torch.manual_seed(0)
    scores = torch.rand(5, 11)  # 2 full groups of 4 and a tail of 3
    mask = nm_mask(scores, 2, 4)
    for r, g in itertools.product(range(5), range(2)):
        group = scores[r, 4 * g : 4 * g + 4]
        expected = set(torch.argsort(group)[:2].tolist())
        assert set(torch.nonzero(mask[r, 4 * g : 4 * g + 4]).flatten().tolist()) == expected
    assert mask[:, 8:].sum(dim=1).eq(1).all()  # floor(2 * 3 / 4) = 1 in the tail
    assert is_nm_sparse(scores.masked_fill(mask, 0.0), 2, 4)


@pytest.mark.parametrize("per_row", [True, False])
def test_unstructured_mask_removes_exactly_the_lowest_fraction(per_row):
    torch.manual_seed(1)
    scores = torch.rand(8, 20)
    mask = unstructured_mask(scores, 0.3, per_row=per_row)
    if per_row:
        assert mask.sum(dim=1).eq(6).all()
        assert (scores[mask].view(8, 6).max(dim=1).values <= scores.masked_fill(mask, 2).min(dim=1).values).all()
    else:
        assert int(mask.sum()) == 48
        assert scores[mask].max() <= scores[~mask].min()


@pytest.mark.parametrize("bad", ["4:4", "3:2", "2-4", "a:b"])
def test_parse_nm_refuses_bad_patterns(bad):
    with pytest.raises(ValueError, match="N"):
        parse_nm(bad)


def test_sparsity_outside_unit_interval_is_refused():
    with pytest.raises(ValueError, match=r"sparsity must lie in \[0.0, 1.0\)"):
        unstructured_mask(torch.rand(2, 2), 1.0)
