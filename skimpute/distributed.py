"""Worker settings for hyperparameter search on a dask.distributed cluster.

The imputers need nothing special to run in a
:class:`~sklearn.model_selection.GridSearchCV` spread over a cluster through joblib's dask
backend (``joblib.parallel_config(backend="dask")``) or ray's (``backend="ray"``): they pickle,
and the same ``random_state`` gives the same result in any process. Two settings of the worker
processes matter for their speed, and this module gets them right for dask:

- **one torch thread per worker process.** Several worker processes on one machine that each
  use all of its cores oversubscribe it: on a 2-core machine shared with other processes, a
  training epoch with two torch threads took up to 48 times as long as with one (see
  :ref:`threads`). The neural imputers run one torch thread by default (``n_threads=1``);
  dask's nanny also sets ``OMP_NUM_THREADS=1`` (and ``MKL_NUM_THREADS``, which decides torch's
  count) before it starts a worker, but a variable already in the environment wins over its
  configuration;
- **no** ``MALLOC_TRIM_THRESHOLD_``. dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its
  workers so that glibc gives freed memory back to the system sooner. Setting it turns off
  glibc's adaptive ``mmap`` threshold, so every tensor above 128 KiB is mapped and unmapped
  afresh: training was 1.3-1.4 times slower with it, ``transform`` 1.4-1.6 times (medians).

:func:`dask_config` is the configuration that fixes both, :func:`local_cluster` starts a
:class:`~distributed.LocalCluster` with it, and :class:`WorkerEnvironment` is a nanny plugin that
applies it to the workers of a running cluster, local or remote.

This module needs the ``distributed`` extra: ``pip install "skimpute[distributed]"``.
"""

import os
from numbers import Integral

try:
    import dask
    from distributed import LocalCluster, NannyPlugin
except ImportError as err:  # pragma: no cover - the CI installs the extra
    raise ImportError(
        "skimpute.distributed needs dask.distributed, which is not installed: "
        'pip install "skimpute[distributed]" (or "dask[distributed]").'
    ) from err

__all__ = ["WorkerEnvironment", "dask_config", "local_cluster"]

#: dask's configuration key of the variables a nanny sets before it starts its worker process
PRE_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"

#: the variables that size the thread pools of torch (OpenMP) and of numpy's BLAS
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: the glibc variable dask's nanny sets, which slows torch down
MALLOC_TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"


def _check_n_threads(n_threads):
    """Return `n_threads` as an int, or raise a ValueError naming the problem."""
    if isinstance(n_threads, bool) or not isinstance(n_threads, Integral) or n_threads < 1:
        raise ValueError(
            f"n_threads must be a positive integer (torch threads per worker process), got "
            f"{n_threads!r}."
        )
    return int(n_threads)


def dask_config(n_threads=1):
    """Return the dask configuration for workers that train torch networks.

    It sets the thread variables (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS``) to `n_threads` and unsets ``MALLOC_TRIM_THRESHOLD_`` in
    ``distributed.nanny.pre-spawn-environ``, the variables a nanny puts in the environment of
    the worker process it starts. Pass it to :func:`dask.config.set` in the process that starts
    the nannies, before they start (a nanny reads the key when it is created).

    Parameters
    ----------
    n_threads : int, default=1
        torch (OpenMP) and BLAS threads per worker process. Keep 1 unless a machine has more
        cores than worker processes times threads per worker.

    Returns
    -------
    config : dict of str to int or None
        Dotted keys of dask's configuration: ``None`` for ``MALLOC_TRIM_THRESHOLD_`` (dask's
        way to leave a variable out) and `n_threads` for the thread variables.

    Raises
    ------
    ValueError
        If `n_threads` is not a positive integer.

    See Also
    --------
    local_cluster : A local cluster started with this configuration.
    WorkerEnvironment : The same settings applied to the workers of a running cluster.

    Notes
    -----
    An environment variable already set in the nanny's process wins over this configuration
    (dask's rule); :func:`local_cluster` and :class:`WorkerEnvironment` handle that case. The
    same configuration as YAML, for the machines that run ``dask worker`` (in
    ``~/.config/dask/`` or a folder named by ``DASK_CONFIG``)::

        distributed:
          nanny:
            pre-spawn-environ:
              MALLOC_TRIM_THRESHOLD_: null
              OMP_NUM_THREADS: 1
              MKL_NUM_THREADS: 1
              OPENBLAS_NUM_THREADS: 1

    Examples
    --------
    >>> import dask
    >>> from skimpute.distributed import dask_config
    >>> config = dask_config()
    >>> config["distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"] is None
    True
    >>> with dask.config.set(config):
    ...     dask.config.get("distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS")
    1
    """
    n_threads = _check_n_threads(n_threads)
    config = {f"{PRE_SPAWN_ENVIRON}.{MALLOC_TRIM_VARIABLE}": None}
    config.update({f"{PRE_SPAWN_ENVIRON}.{name}": n_threads for name in THREAD_VARIABLES})
    return config


def local_cluster(n_workers=2, *, threads_per_worker=1, n_threads=1, **kwargs):
    """Start a :class:`~distributed.LocalCluster` of worker processes set up for torch.

    The cluster is started under :func:`dask_config`, so each worker process runs `n_threads`
    torch threads and has no ``MALLOC_TRIM_THRESHOLD_``. Connect a
    :class:`~distributed.Client` to it and run the search under
    ``joblib.parallel_config(backend="dask")``.

    Parameters
    ----------
    n_workers : int, default=2
        Number of worker processes. On one machine, ``n_workers * threads_per_worker *
        n_threads`` should not exceed its cores.
    threads_per_worker : int, default=1
        Tasks a worker process runs at once (dask threads). Keep 1: torch's thread count is
        global to a process, and the fits of one process share its interpreter lock.
    n_threads : int, default=1
        torch (OpenMP) and BLAS threads in each worker process.
    **kwargs
        Passed to :class:`~distributed.LocalCluster`, for example
        ``dashboard_address=None``, ``memory_limit`` or ``resources={"GPU": 1}``.

    Returns
    -------
    cluster : distributed.LocalCluster
        The running cluster; close it (or use it as a context manager) when done.

    Raises
    ------
    ValueError
        If `n_threads` or `threads_per_worker` is not a positive integer, or
        ``processes=False`` is passed (the settings are those of worker processes).

    See Also
    --------
    dask_config : The configuration it starts the cluster with.
    WorkerEnvironment : The same settings for a cluster started elsewhere.

    Notes
    -----
    Before it starts the nannies, it removes ``MALLOC_TRIM_THRESHOLD_`` from this process's
    environment and sets the thread variables to `n_threads` there: the nannies of a
    :class:`~distributed.LocalCluster` run in this process, a variable in its environment
    wins over dask's configuration and is inherited by the workers, and a cluster started
    earlier in this process leaves ``MALLOC_TRIM_THRESHOLD_=65536`` there. A process reads
    these variables when it starts, so this process's own speed is unchanged.

    Call it under an ``if __name__ == "__main__":`` guard in a script: the worker processes
    are started with the ``spawn`` method, which imports the script's main module again.

    Examples
    --------
    >>> import joblib
    >>> from distributed import Client
    >>> from skimpute.distributed import local_cluster
    >>> with local_cluster(2, dashboard_address=None) as cluster, Client(cluster) as client:
    ...     with joblib.parallel_config(backend="dask"):
    ...         search.fit(X_missing)  # doctest: +SKIP
    """
    n_threads = _check_n_threads(n_threads)
    if (
        isinstance(threads_per_worker, bool)
        or not isinstance(threads_per_worker, Integral)
        or threads_per_worker < 1
    ):
        raise ValueError(
            f"threads_per_worker must be a positive integer, got {threads_per_worker!r}."
        )
    if not kwargs.pop("processes", True):
        raise ValueError(
            "local_cluster starts worker processes (processes=True): torch's thread count is "
            "global to a process, so workers that are threads of one process cannot each have "
            "their own. Use distributed.LocalCluster(processes=False) directly for that."
        )
    os.environ.pop(MALLOC_TRIM_VARIABLE, None)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n_threads)
    with dask.config.set(dask_config(n_threads)):
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=int(threads_per_worker),
            processes=True,
            **kwargs,
        )


class WorkerEnvironment(NannyPlugin):
    """Nanny plugin that restarts the workers of a running cluster with the torch settings.

    Register it with ``client.register_plugin(WorkerEnvironment())``: every nanny of the
    cluster, and every nanny that joins it later, sets the thread variables to `n_threads` and
    leaves ``MALLOC_TRIM_THRESHOLD_`` out of the environment of its worker process, then
    restarts that process so that the settings take effect. Use it for a cluster started
    elsewhere (``dask worker``, dask-jobqueue, Kubernetes), whose nannies read their own
    machine's configuration and not the client's.

    Parameters
    ----------
    n_threads : int, default=1
        torch (OpenMP) and BLAS threads in each worker process.

    Attributes
    ----------
    name : str
        ``"skimpute-worker-environment"``, the plugin's name on the cluster (registering the
        plugin again replaces it).
    restart : bool
        True: the nannies restart their worker processes when the plugin is registered, so
        the data and tasks held by the workers are lost. Register it before submitting work.

    Raises
    ------
    ValueError
        If `n_threads` is not a positive integer.

    See Also
    --------
    dask_config : The same settings as dask configuration, for clusters you start.

    Notes
    -----
    It works on workers started by a nanny (the default of ``dask worker`` and of
    :class:`~distributed.LocalCluster` with ``processes=True``); a worker started without one
    (``--no-nanny``) is left as it is. In the nanny's process it also removes
    ``MALLOC_TRIM_THRESHOLD_`` from the environment, since the worker inherits it from there.

    Examples
    --------
    >>> from skimpute.distributed import WorkerEnvironment
    >>> plugin = WorkerEnvironment(n_threads=1)
    >>> plugin.name, plugin.restart
    ('skimpute-worker-environment', True)
    >>> client.register_plugin(plugin)  # doctest: +SKIP
    """

    name = "skimpute-worker-environment"
    restart = True

    def __init__(self, n_threads=1):
        self.n_threads = _check_n_threads(n_threads)

    def setup(self, nanny):
        """Set the nanny's environment for its worker process (dask calls it).

        Parameters
        ----------
        nanny : distributed.Nanny
            The nanny the plugin is registered on.
        """
        threads = {name: str(self.n_threads) for name in THREAD_VARIABLES}
        for env in (nanny.pre_spawn_env, nanny.env):
            env.pop(MALLOC_TRIM_VARIABLE, None)
            env.update(threads)
        os.environ.pop(MALLOC_TRIM_VARIABLE, None)
