"""NotMIWAEImputer: the model's behaviour with fixed seeds and small budgets."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skimpute.metrics import CompleteDataScorer, HiddenEntriesScorer
from skimpute.nn import LinearMissing, MCARMissing, NonlinearMissing, SelfMasking, snis_median
from skimpute.notmiwae import NotMIWAEImputer
from skimpute.notmiwae._module import NotMIWAEModule

torch.set_num_threads(1)


def censored_gaussian(n=300, seed=0):
    """The paper's figure 1: a correlated 2-d Gaussian whose first coordinate goes missing when
    it is above its mean (deterministic self-masking)."""
    rng = np.random.default_rng(seed)
    X = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.8], [0.8, 1.0]], size=n)
    X_missing = X.copy()
    X_missing[X[:, 0] > X[:, 0].mean(), 0] = np.nan
    return X, X_missing


FIG1 = dict(
    decoder="linear",
    latent_dim=1,
    max_epochs=25,
    batch_size=32,
    lr=1e-2,
    n_importance_samples=5,
    n_imputation_samples=100,
    random_state=0,
)


def rmse_missing(X, X_missing, X_imputed):
    miss = np.isnan(X_missing)
    return float(np.sqrt(np.mean((X_imputed[miss] - X[miss]) ** 2)))


def test_beats_miwae_on_figure_1_censoring():
    X, Xm = censored_gaussian()
    miss = np.isnan(Xm)
    not_miwae = NotMIWAEImputer(missing_model="selfmasking_known", **FIG1).fit(Xm)
    miwae = NotMIWAEImputer(missing_model=None, **FIG1).fit(Xm)
    X_not, X_mi = not_miwae.transform(Xm), miwae.transform(Xm)
    rmse_not, rmse_mi = rmse_missing(X, Xm, X_not), rmse_missing(X, Xm, X_mi)
    # MIWAE assumes MAR and imputes the censored values too low; not-MIWAE corrects the bias
    assert rmse_not < 0.85 * rmse_mi  # 0.98 vs 1.34 with these seeds
    assert X_not[miss].mean() > X_mi[miss].mean() + 0.3
    # the joint likelihood of data and mask is higher with the right missing model
    assert not_miwae.score(Xm) > miwae.score(Xm)
    # the learnt missing model: censored entries are predicted less likely to be observed
    proba = not_miwae.predict_mask_proba(Xm)
    assert proba.shape == Xm.shape and np.all((proba >= 0) & (proba <= 1))
    assert proba[miss[:, 0], 0].mean() < proba[~miss[:, 0], 0].mean() - 0.15
    # MIWAE's mask probabilities are the observed fractions
    np.testing.assert_allclose(
        miwae.predict_mask_proba(Xm)[0], (~miss).mean(axis=0).clip(1e-3, 1 - 1e-3), rtol=1e-5
    )


def test_grid_search_in_pipeline_uses_score():
    _, Xm = censored_gaussian(n=160, seed=1)
    pipe = make_pipeline(
        StandardScaler(),
        NotMIWAEImputer(
            hidden_layer_sizes=(8,),
            max_epochs=3,
            batch_size=32,
            n_imputation_samples=20,
            random_state=0,
        ),
    )
    grid = {
        "notmiwaeimputer__missing_model": ["selfmasking", None],
        "notmiwaeimputer__n_importance_samples": [1, 5],
    }
    search = GridSearchCV(pipe, grid, cv=2).fit(Xm)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.all(np.isfinite(scores))
    assert search.best_params_["notmiwaeimputer__missing_model"] in ("selfmasking", None)
    assert not np.isnan(search.transform(Xm)).any()
    # reproducible: the same search gives the same scores
    again = GridSearchCV(pipe, grid, cv=2).fit(Xm)
    np.testing.assert_array_equal(scores, again.cv_results_["mean_test_score"])


@pytest.mark.parametrize("scorer_name", ["complete", "hidden"])
def test_grid_search_with_the_foundations_scorers(scorer_name):
    X, Xm = censored_gaussian(n=160, seed=2)
    imputer = NotMIWAEImputer(
        hidden_layer_sizes=(8,), max_epochs=3, n_imputation_samples=20, random_state=0
    )
    grid = {"missing_model": ["selfmasking_known", None], "n_importance_samples": [1, 5]}
    if scorer_name == "complete":
        scorer, y = CompleteDataScorer(), X  # the complete data is the target
    else:
        scorer, y = HiddenEntriesScorer(fraction=0.2, random_state=0), None
    search = GridSearchCV(imputer, grid, scoring=scorer, cv=2).fit(Xm, y)
    scores = search.cv_results_["mean_test_score"]
    # minus an error: finite and negative, and the best is the largest
    assert len(scores) == 4 and np.all(np.isfinite(scores)) and np.all(scores < 0)
    assert search.best_score_ == scores.max()
    again = GridSearchCV(imputer, grid, scoring=scorer, cv=2).fit(Xm, y)
    np.testing.assert_array_equal(scores, again.cv_results_["mean_test_score"])


@pytest.mark.parametrize(
    "params",
    [
        dict(missing_model="selfmasking"),
        dict(missing_model="linear"),
        dict(missing_model="nonlinear"),
        dict(missing_model=None, encoder="set"),
        dict(decoder="linear", likelihood="student_t"),
        dict(likelihood="student_t", imputation="median"),
        dict(imputation="median", activation="relu"),
        dict(imputation="median", rao_blackwell=True),
        dict(missing_model=None, imputation="median", rao_blackwell=False),
    ],
    ids=str,
)
def test_options_run(params):
    _, Xm = censored_gaussian(n=80)
    base = dict(
        hidden_layer_sizes=(8,),
        max_epochs=2,
        n_importance_samples=3,
        n_imputation_samples=20,
        random_state=0,
    )
    imp = NotMIWAEImputer(**{**base, **params}).fit(Xm)
    out = imp.transform(Xm)
    assert np.isfinite(out).all()
    assert np.isfinite(imp.score(Xm))
    assert imp.sample(Xm, 2).shape == (2,) + Xm.shape
    assert np.all((imp.predict_mask_proba(Xm) >= 0) & (imp.predict_mask_proba(Xm) <= 1))


def test_missing_model_classes_and_latent_default():
    _, Xm = censored_gaussian(n=50)
    expected = {
        "selfmasking": SelfMasking,
        "selfmasking_known": SelfMasking,
        "linear": LinearMissing,
        "nonlinear": NonlinearMissing,
        None: MCARMissing,
    }
    for name, cls in expected.items():
        imp = NotMIWAEImputer(
            missing_model=name, hidden_layer_sizes=(4,), max_epochs=1, n_imputation_samples=4
        ).fit(Xm)
        module = imp.net_.module_
        assert isinstance(module, NotMIWAEModule)
        assert isinstance(module.missing, cls)
        assert module.encoder.latent_dim == 1  # n_features - 1
    assert SelfMasking(3, known_sign=True).known_sign


def test_selfmasking_known_sign():
    # with the sign known, P(observed) decreases with the value, whatever the raw weights
    model = SelfMasking(2, known_sign=True)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([-3.0, 2.0]))
    x = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    p = torch.sigmoid(model(x))
    assert torch.all(p[0] > p[1])


def test_median_imputation_differs_from_mean_but_is_close():
    X, Xm = censored_gaussian(n=200)
    params = dict(FIG1, max_epochs=10)
    mean_imp = NotMIWAEImputer(missing_model="selfmasking_known", **params).fit(Xm)
    median_imp = NotMIWAEImputer(
        missing_model="selfmasking_known", imputation="median", **params
    ).fit(Xm)
    a, b = mean_imp.transform(Xm), median_imp.transform(Xm)
    miss = np.isnan(Xm)
    assert not np.array_equal(a, b)
    assert np.abs(a[miss] - b[miss]).mean() < 0.3


def test_importance_weights_shape_and_training_bound():
    module = NotMIWAEModule(3, 2, hidden_layer_sizes=(8,), n_importance_samples=7)
    X = torch.randn(5, 3)
    mask = torch.ones(5, 3)
    mask[0, 1] = 0
    log_w = module(X * mask, mask)
    assert log_w.shape == (5, 7)
    assert torch.isfinite(log_w).all()
    # gradients reach the missing model through the reparameterised sample of x_m
    log_w.mean().backward()
    assert module.missing.weight.grad is not None and torch.any(module.missing.weight.grad != 0)


def constant_decoder_module(slope):
    """A not-MIWAE whose decoder is N(0, 1) whatever z, whose encoder is the prior and whose
    self-masking is ``P(observed | x) = sigmoid(-slope * x)``: the conditional distribution of a
    missing value is then known in closed form."""
    module = NotMIWAEModule(1, 1, hidden_layer_sizes=(4,), missing_model="selfmasking_known")
    with torch.no_grad():
        for p in module.encoder.parameters():
            p.zero_()  # q(z | x_o) = N(0, 1) = p(z): the latent part of every weight is 1
        out = module.decoder.net[-1]
        out.weight.zero_()
        out.bias.copy_(torch.tensor([0.0, np.log(np.expm1(1.0 - 1e-3))]))  # loc 0, scale 1
        module.missing.weight.fill_(np.log(np.expm1(slope)))  # softplus(weight) = slope
        module.missing.bias.zero_()
    return module.eval()


def test_sampled_values_estimate_the_selected_conditional_mean():
    # E[x_m | s = 0] = E[x sigmoid(slope x)] / E[sigmoid(slope x)] under x ~ N(0, 1): about
    # 0.78 for slope 20. The decoder mean is 0 at every z, so the Rao-Blackwellised estimate of
    # eq. 18-19 stays at 0; the sampled values of eq. 16 follow the selection by the mask.
    slope = 20.0
    grid = np.linspace(-8, 8, 200_001)
    density = np.exp(-0.5 * grid**2) / (1 + np.exp(-slope * grid))
    expected = float((grid * density).sum() / density.sum())
    module = constant_decoder_module(slope)
    X, mask = torch.zeros(3, 1), torch.zeros(3, 1)
    torch.manual_seed(0)
    with torch.no_grad():
        sampled = module.impute(X, mask, 20_000, rao_blackwell=False)
        decoder = module.impute(X, mask, 20_000, rao_blackwell=True)
        median = module.impute(X, mask, 20_000, method="median", rao_blackwell=False)
    np.testing.assert_allclose(sampled.numpy(), expected, atol=0.03)
    np.testing.assert_allclose(decoder.numpy(), 0.0, atol=1e-6)
    # the selected distribution is right-skewed, its median below its mean but well above 0
    assert torch.all((median > 0.5) & (median < sampled))


def test_snis_median_is_the_weighted_median():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 4, 3))
    log_w = rng.normal(size=(50, 4))
    got = snis_median(torch.as_tensor(log_w), torch.as_tensor(values)).numpy()
    w = np.exp(log_w - log_w.max(0))
    w /= w.sum(0)
    for b in range(4):
        for j in range(3):
            order = np.argsort(values[:, b, j])
            first = np.searchsorted(np.cumsum(w[order, b]), 0.5)
            assert got[b, j] == values[order[first], b, j]


def test_rao_blackwell_auto_follows_the_missing_model():
    _, Xm = censored_gaussian(n=80)
    base = dict(hidden_layer_sizes=(8,), max_epochs=2, n_imputation_samples=50, random_state=0)
    not_miwae = NotMIWAEImputer(missing_model="selfmasking_known", **base).fit(Xm)
    auto = not_miwae.transform(Xm)
    np.testing.assert_array_equal(auto, not_miwae.set_params(rao_blackwell=False).transform(Xm))
    assert not np.array_equal(auto, not_miwae.set_params(rao_blackwell=True).transform(Xm))
    miwae = NotMIWAEImputer(missing_model=None, **base).fit(Xm)
    auto = miwae.transform(Xm)
    np.testing.assert_array_equal(auto, miwae.set_params(rao_blackwell=True).transform(Xm))
    assert not np.array_equal(auto, miwae.set_params(rao_blackwell=False).transform(Xm))
