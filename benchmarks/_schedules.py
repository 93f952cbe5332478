"""Learning-rate schedules for models trained one epoch per ``partial_fit`` call.

In a module of its own, which no benchmark runs as ``__main__``, so that the pickled
checkpoints of the models that use them load from any script.
"""

from skorch.callbacks import Callback


class StepDecay(Callback):
    """The learning rate divided by `factor` from epoch `step` + 1 on, by the epoch count.

    skorch's ``LRScheduler(StepLR)`` builds its scheduler again at every ``fit`` and
    ``partial_fit`` and steps it once when it does, so a model trained one epoch per
    ``partial_fit`` call (the paper profile) would divide the rate at every epoch from the
    step on. This callback sets the rate of the (policy) optimizer from the length of the
    history instead, so one call of ``fit`` and one ``partial_fit`` per epoch train alike. It
    records the rate as ``event_lr``.

    Parameters
    ----------
    lr : float
        The rate of the first `step` epochs.
    step : int
        The epochs at rate `lr`.
    factor : float, default=10
        The divisor after them.
    """

    def __init__(self, lr, step, factor=10.0):
        self.lr = lr
        self.step = step
        self.factor = factor

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)  # the net's own on_epoch_begin has opened this epoch's row
        lr = self.lr if epoch <= self.step else self.lr / self.factor
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
        net.history.record("event_lr", lr)

    def __eq__(self, other):  # a checkpoint's parameters compare equal to the profile's
        return type(other) is type(self) and other.get_params() == self.get_params()

    __hash__ = Callback.__hash__
