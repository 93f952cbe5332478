"""Search GNRImputer's alpha and K on a dask cluster, or through ray, with joblib.

Run it as a script::

    python examples/distributed_search.py                      # dask, 2 local workers
    python examples/distributed_search.py --scheduler tcp://host:8786   # a running cluster
    python examples/distributed_search.py --backend ray        # ray, 2 local CPUs

The data: breast cancer (569 rows, 30 columns), standardised, its first 15 columns
self-masked above their mean with probability 0.8 (missing not at random). The search fits
``len(grid) * cv`` imputers on the workers and scores each against the complete data.
"""

import argparse

import joblib
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV

from skimpute import GNRImputer
from skimpute.ampute import mnar_self_masking
from skimpute.metrics import CompleteDataScorer

GRID = {"alpha": [0.1, 1.0, 10.0], "n_importance_samples": [5, 20]}


def make_data():
    """Return the complete standardised data and a copy with MNAR missing values."""
    X = load_breast_cancer().data
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X_missing, _ = mnar_self_masking(X, p=0.8, random_state=0)
    return X, X_missing


def make_search(max_epochs=20, n_imputation_samples=100):
    """The search: every fit of it runs on a worker, the final refit in this process."""
    imputer = GNRImputer(
        hidden_layer_sizes=(64, 64),
        max_epochs=max_epochs,
        batch_size=64,
        n_imputation_samples=n_imputation_samples,
        random_state=0,
    )
    # n_jobs=-1: as many tasks at once as the backend has workers
    return GridSearchCV(imputer, GRID, scoring=CompleteDataScorer(), cv=2, n_jobs=-1)


def search_on_dask(search, X_missing, X, scheduler=None, n_workers=2):
    """Fit the search on a dask cluster: a running one, or a local one started here."""
    from distributed import Client

    from skimpute.distributed import WorkerEnvironment, local_cluster

    if scheduler is not None:
        with Client(scheduler) as client:
            # one torch thread per worker process, no MALLOC_TRIM_THRESHOLD_: restarts them
            client.register_plugin(WorkerEnvironment(n_threads=1))
            with joblib.parallel_config(backend="dask"):
                return search.fit(X_missing, X)
    with local_cluster(n_workers, dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_config(backend="dask"):
            return search.fit(X_missing, X)


def search_on_ray(search, X_missing, X, num_cpus=2):
    """Fit the search through ray's joblib backend, on a local ray started here."""
    import ray
    from ray.util.joblib import register_ray

    ray.init(num_cpus=num_cpus, include_dashboard=False)  # or address="auto" for a cluster
    try:
        register_ray()
        with joblib.parallel_config(backend="ray"):
            return search.fit(X_missing, X)
    finally:
        ray.shutdown()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("dask", "ray"), default="dask")
    parser.add_argument("--scheduler", help="address of a running dask scheduler")
    parser.add_argument("--workers", type=int, default=2, help="local workers or ray CPUs")
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--imputation-samples", type=int, default=100)
    args = parser.parse_args(argv)
    X, X_missing = make_data()
    search = make_search(args.max_epochs, args.imputation_samples)
    if args.backend == "dask":
        search_on_dask(search, X_missing, X, args.scheduler, args.workers)
    else:
        search_on_ray(search, X_missing, X, args.workers)
    print("best parameters:", search.best_params_)
    print(f"RMSE on the missing entries: {-search.best_score_:.3f}")
    return search


# The guard is required: dask's nanny starts each worker process with multiprocessing's "spawn",
# which imports this file again in the new process; without the guard that import would start
# a cluster of its own (multiprocessing stops it with a RuntimeError).
if __name__ == "__main__":
    main()
