"""GridSearchCV through joblib's dask and ray backends, and skimpute.distributed's settings.

The dask tests share one two-worker cluster of processes (its start dominates their time); the
ray test starts a two-CPU local ray. Both give the scores of the search run in this process,
bit for bit: a fit depends only on its data and random_state, and the imputers run one torch
thread (n_threads=1) wherever they run.
"""

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from skimpute import GNRImputer
from skimpute.ampute import mnar_self_masking
from skimpute.metrics import CompleteDataScorer, HiddenEntriesScorer

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

from skimpute.distributed import (  # noqa: E402 (needs dask, skipped above without it)
    THREAD_VARIABLES,
    WorkerEnvironment,
    dask_config,
    local_cluster,
)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread in this process, as in the workers, for the whole module.

    A fixture rather than a call at import: the workers import this module to unpickle its
    functions, and must keep the thread count that dask or ray gave them.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed_search.py"

TINY = dict(
    hidden_layer_sizes=(8,),
    max_epochs=2,
    batch_size=32,
    n_imputation_samples=10,
    random_state=0,
)
GRID = {"alpha": [0.1, 1.0, 10.0], "n_importance_samples": [1, 3]}


def search_data():
    """Standardised correlated 4-d Gaussian, its first two columns self-masked (MNAR)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4)) @ np.array(
        [[1.0, 0.6, 0.3, 0.2], [0.0, 0.8, 0.4, 0.1], [0.0, 0.0, 0.8, 0.3], [0.0, 0.0, 0.0, 0.7]]
    )
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X_missing, _ = mnar_self_masking(X, columns=[0, 1], p=0.9, random_state=0)
    return X, X_missing


class PidScorer:
    """A scorer that leaves a file named by the id of the process that calls it."""

    def __init__(self, scorer, folder):
        self.scorer, self.folder = scorer, str(folder)

    def __call__(self, estimator, X, y=None):
        open(os.path.join(self.folder, str(os.getpid())), "w").close()
        return self.scorer(estimator, X, y)


def make_search(folder):
    scoring = {
        "complete": PidScorer(CompleteDataScorer(), folder),
        "hidden": HiddenEntriesScorer(fraction=0.2, random_state=0),
    }
    return GridSearchCV(
        GNRImputer(**TINY), GRID, scoring=scoring, refit="complete", cv=2, n_jobs=-1
    )


def processes_that_scored(folder):
    return {int(name) for name in os.listdir(folder)}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The search run in this process, with no parallel backend."""
    folder = tmp_path_factory.mktemp("sequential")
    X, X_missing = search_data()
    search = make_search(folder).set_params(n_jobs=None).fit(X_missing, X)
    assert processes_that_scored(folder) == {os.getpid()}
    return search


@pytest.fixture(scope="module")
def client():
    """A client of a two-worker local cluster of processes, one thread and torch thread each."""
    with pytest.MonkeyPatch.context() as mp:  # local_cluster edits os.environ: restore it
        for name in ("MALLOC_TRIM_THRESHOLD_", *THREAD_VARIABLES):
            mp.delenv(name, raising=False)
        mp.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as a default cluster started before
        # an abstract "GPU" resource, one per worker, for the resources test
        with local_cluster(2, dashboard_address=None, resources={"GPU": 1}) as cluster:
            with distributed.Client(cluster) as client:
                yield client


def worker_settings():
    """What a worker reports: its trim-threshold variable and torch's thread count."""
    import torch

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), torch.get_num_threads()


def assert_same_search(search, reference):
    assert search.best_params_ == reference.best_params_
    for key in ("params", "rank_test_complete"):
        assert list(search.cv_results_[key]) == list(reference.cv_results_[key])
    for key, value in reference.cv_results_.items():
        if "_test_" in key and "rank" not in key:
            np.testing.assert_array_equal(search.cv_results_[key], value, err_msg=key)
    X, X_missing = search_data()
    np.testing.assert_array_equal(search.transform(X_missing), reference.transform(X_missing))


def test_dask_workers_have_one_torch_thread_and_no_malloc_trim(client):
    settings = client.run(worker_settings)
    assert len(settings) == 2
    assert set(settings.values()) == {(None, 1)}


def test_grid_search_on_dask_matches_sequential(client, sequential, tmp_path):
    X, X_missing = search_data()
    search = make_search(tmp_path)
    with joblib.parallel_config(backend="dask"):
        search.fit(X_missing, X)
    assert_same_search(search, sequential)
    workers = {pid for pid in client.run(os.getpid).values()}
    scored = processes_that_scored(tmp_path)
    # the 12 fits ran on the workers (the refit runs here; its scorer is not called)
    assert scored and scored <= workers


def task_resources():
    """The resource restrictions of the dask task that runs this function."""
    from distributed.worker import thread_state

    return distributed.get_worker().state.tasks[thread_state.key].resource_restrictions


def test_gpu_resources_reach_the_tasks_of_the_joblib_dask_backend(client):
    jobs = [joblib.delayed(task_resources)() for _ in range(2)]
    with joblib.parallel_config(backend="dask", resources={"GPU": 1}):
        assert joblib.Parallel(n_jobs=2)(jobs) == [{"GPU": 1}] * 2
    with dask.annotate(resources={"GPU": 1}), joblib.parallel_config(backend="dask"):
        assert joblib.Parallel(n_jobs=2)(jobs) == [{"GPU": 1}] * 2
    with joblib.parallel_config(backend="dask"):
        assert not any(joblib.Parallel(n_jobs=2)(jobs))


def test_example_on_a_running_cluster_restarts_its_workers(client, capsys):
    """examples/distributed_search.py --scheduler: it registers WorkerEnvironment, whose
    restart leaves the workers with the settings, and runs its search on them."""
    spec = importlib.util.spec_from_file_location("distributed_search", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    pids = set(client.run(os.getpid).values())
    address = client.scheduler.address
    example.main(["--scheduler", address, "--max-epochs", "1", "--imputation-samples", "5"])
    assert "best parameters: {'alpha':" in capsys.readouterr().out
    client.wait_for_workers(2)
    assert not pids & set(client.run(os.getpid).values())  # new worker processes
    assert set(client.run(worker_settings).values()) == {(None, 1)}


def test_worker_environment_edits_the_nanny_environment(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    dask_defaults = {"MALLOC_TRIM_THRESHOLD_": "65536", "OMP_NUM_THREADS": "4"}
    nanny = SimpleNamespace(pre_spawn_env=dict(dask_defaults), env={**dask_defaults, "A": "b"})
    plugin = WorkerEnvironment(n_threads=2)
    assert plugin.restart and plugin.name == "skimpute-worker-environment"
    plugin.setup(nanny)
    threads = {name: "2" for name in THREAD_VARIABLES}
    assert nanny.pre_spawn_env == threads
    assert nanny.env == {**threads, "A": "b"}
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # the worker inherits the nanny's


def test_grid_search_on_ray_matches_sequential(sequential, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    # ray's workers do not inherit this process's sys.path: give them this folder, so that
    # they can import this module (PidScorer) when they unpickle the search's tasks
    here = os.path.dirname(os.path.abspath(__file__))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        register_ray()
        X, X_missing = search_data()
        search = make_search(tmp_path)
        with joblib.parallel_config(backend="ray"):
            search.fit(X_missing, X)
    finally:
        ray.shutdown()
    assert_same_search(search, sequential)
    scored = processes_that_scored(tmp_path)
    assert scored and os.getpid() not in scored


def test_dask_config_sets_the_nanny_environment():
    config = dask_config(n_threads=3)
    key = "distributed.nanny.pre-spawn-environ"
    with dask.config.set(config):
        environ = dict(dask.config.get(key))  # a copy: the context restores it in place
    assert environ["MALLOC_TRIM_THRESHOLD_"] is None
    assert all(environ[name] == 3 for name in THREAD_VARIABLES)
    # dask's own default, which the configuration exists to override
    assert dask.config.get(key)["MALLOC_TRIM_THRESHOLD_"] == 65536


@pytest.mark.parametrize("bad", [0, -1, 1.5, "1", True, None])
def test_bad_n_threads(bad):
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        dask_config(n_threads=bad)
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        WorkerEnvironment(n_threads=bad)
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        local_cluster(n_threads=bad)


def test_local_cluster_rejects_threads_only_clusters():
    with pytest.raises(ValueError, match="processes=True"):
        local_cluster(processes=False)
    with pytest.raises(ValueError, match="threads_per_worker must be a positive integer"):
        local_cluster(threads_per_worker=0)
