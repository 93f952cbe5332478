"""NAOMI's skorch net: teacher forcing, free-running epochs and the adversarial stage."""

import torch
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch.nn import functional as F

from skimpute._sequence import SequenceNet

__all__ = ["NAOMINet"]

#: the generator is updated only while the discriminator gives imputations less than this
#: probability of being real (the authors' rule)
_UPDATE_BELOW = 0.8
#: the generator waits until the discriminator has given imputations less than this probability
#: once, as the authors pretrain the discriminator before updating the generator
_WARM_BELOW = 0.3


class NAOMINet(SequenceNet):
    """Skorch net that trains NAOMI in up to three stages.

    Epochs ``1..teacher_forcing_epochs`` minimise the teacher-forced loss (the module's
    ``forward``); the following epochs up to ``pretrain_epochs`` minimise the squared error of
    the free-running imputation (``module_.free_running_loss``); the epochs after
    ``pretrain_epochs`` (up to ``max_epochs``) are the adversarial stage, which needs a
    `discriminator`.

    In each adversarial step, a batch of sequences is imputed under fresh training masks with
    the generator's reparameterised sampling (``module_.rollout``); the discriminator is updated
    `n_critic` times with the binary cross-entropy of the true sequences (label 1) against the
    detached imputations (label 0); then, once the discriminator is warmed up (it has given the
    imputations a mean probability below 0.3; the authors pretrain it up to 2000 iterations
    until then) and while that probability is below 0.8, the generator is updated to make the
    discriminator call its imputations real, the gradient flowing through the sampled
    imputation (the authors' model-based GAIL update). A discriminator that never gets there
    leaves the generator as pretrained. The generator's optimiser is reset to `adversarial_lr`
    when the stage starts. The history records ``stage`` per epoch and ``d_loss``,
    ``model_prob`` and ``g_step`` per adversarial batch; ``train_loss`` is the generator's loss
    in that stage.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        :class:`~skimpute.naomi.NAOMIModule`.
    criterion : torch.nn.Module class or instance
        Reduces the per-sequence losses (:class:`~skimpute.nn.MeanLoss`).
    teacher_forcing_epochs : int or None, default=None
        Epochs of teacher forcing; None means all of the pretraining.
    pretrain_epochs : int or None, default=None
        Epochs before the adversarial stage; None means ``max_epochs`` (no adversarial stage).
    discriminator : torch.nn.Module class or instance, default=None
        :class:`~skimpute.naomi.TrajectoryDiscriminator`, built with its ``discriminator__*``
        arguments and registered as ``discriminator_``.
    optimizer_discriminator : torch.optim.Optimizer class, default=torch.optim.Adam
        The discriminator's optimiser (``optimizer_discriminator_``), with its
        ``optimizer_discriminator__*`` arguments.
    adversarial_lr : float, default=3e-6
        Learning rate of the generator in the adversarial stage (the authors: 3e-6).
    n_critic : int, default=3
        Discriminator updates per batch (the authors: 3).
    max_grad_norm : float or None, default=None
        Largest gradient norm of each network.
    **kwargs : dict
        The other arguments of :class:`skorch.NeuralNet`.
    """

    def __init__(
        self,
        module,
        criterion,
        *,
        teacher_forcing_epochs=None,
        pretrain_epochs=None,
        discriminator=None,
        optimizer_discriminator=torch.optim.Adam,
        adversarial_lr=3e-6,
        n_critic=3,
        max_grad_norm=None,
        **kwargs,
    ):
        super().__init__(module, criterion, max_grad_norm=max_grad_norm, **kwargs)
        self.teacher_forcing_epochs = teacher_forcing_epochs
        self.pretrain_epochs = pretrain_epochs
        self.discriminator = discriminator
        self.optimizer_discriminator = optimizer_discriminator
        self.adversarial_lr = adversarial_lr
        self.n_critic = n_critic

    # ---------------------------------------------------------------- components
    def initialize_module(self):
        super().initialize_module()
        if self.discriminator is not None:
            params = self.get_params_for("discriminator")
            # from its own generator, so that the pretraining is the same as without it
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(torch.initial_seed() + 1)
                self.discriminator_ = self.initialized_instance(self.discriminator, params)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        args, kwargs = self.get_params_for_optimizer("optimizer", self.module_.named_parameters())
        self.optimizer_ = self.optimizer(*args, **kwargs)
        if self.discriminator is not None:
            args, kwargs = self.get_params_for_optimizer(
                "optimizer_discriminator", self.discriminator_.named_parameters()
            )
            self.optimizer_discriminator_ = self.optimizer_discriminator(*args, **kwargs)
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # a new training; a partial_fit call that continues one keeps the adversarial state
        if not len(self.history) or not hasattr(self, "adversarial_started_"):
            self.discriminator_ready_ = False
            self.adversarial_started_ = False

    # ---------------------------------------------------------------- stages
    def stage(self):
        """Return the stage of the current epoch.

        Returns
        -------
        stage : {"teacher_forcing", "free_running", "adversarial"}
            The training stage of epoch ``len(history)``; epochs after the schedule (more
            ``partial_fit`` calls) stay in its last stage.
        """
        epoch = len(self.history)
        if epoch > self._pretrain() and self.discriminator is not None:
            return "adversarial"
        if self.teacher_forcing_epochs is not None and epoch > self.teacher_forcing_epochs:
            return "free_running"
        return "teacher_forcing"

    def _pretrain(self):
        """Number of pretraining epochs (``max_epochs`` when `pretrain_epochs` is None)."""
        return self.max_epochs if self.pretrain_epochs is None else self.pretrain_epochs

    def train_step_single(self, batch, **fit_params):
        """Compute the pretraining loss of a batch (teacher-forced or free-running) and its
        gradients.

        Parameters
        ----------
        batch : tuple
            ``(X_batch, None)``.
        **fit_params : dict
            Passed to the module's ``forward`` in teacher-forced epochs.

        Returns
        -------
        step : dict
            ``{"loss": loss, "y_pred": per-sequence losses}``.
        """
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        if self.stage() == "free_running":
            Xt = to_tensor(Xi, device=self.device)
            y_pred = self.module_.free_running_loss(Xt["X"], Xt["mask"])
        else:
            y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, None, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        """Run one training step of the current stage (see the class description).

        Parameters
        ----------
        batch : tuple
            ``(X_batch, None)``.
        **fit_params : dict
            Passed on in the pretraining stages.

        Returns
        -------
        step : dict
            ``{"loss": loss, "y_pred": ...}``; the generator's loss in the adversarial stage.
        """
        stage = self.stage()
        self.history.record("stage", stage)
        if stage != "adversarial":
            return super().train_step(batch, **fit_params)
        return self._adversarial_step(batch)

    def _adversarial_step(self, batch):
        """One adversarial step: `n_critic` discriminator updates, then maybe a generator one."""
        if not self.adversarial_started_:
            self.adversarial_started_ = True
            self.optimizer_.state.clear()
            for group in self.optimizer_.param_groups:
                group["lr"] = self.adversarial_lr
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        Xt = to_tensor(Xi, device=self.device)
        real = Xt["X"]
        fake, _ = self.module_.rollout(real, Xt["mask"])
        for _ in range(self.n_critic):
            self.optimizer_discriminator_.zero_grad()
            logit_real = self.discriminator_(real)
            logit_fake = self.discriminator_(fake.detach())
            d_loss = F.binary_cross_entropy_with_logits(
                logit_real, torch.ones_like(logit_real)
            ) + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
            d_loss.backward()
            self._check_finite_loss(d_loss)
            self._clip(self.discriminator_)
            self.optimizer_discriminator_.step()
        model_prob = float(torch.sigmoid(logit_fake.detach()).mean())
        if model_prob < _WARM_BELOW:
            self.discriminator_ready_ = True
        g_step = self.discriminator_ready_ and model_prob < _UPDATE_BELOW
        self.optimizer_.zero_grad()
        logit = self.discriminator_(fake)
        g_loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
        self._check_finite_loss(g_loss)
        if g_step:
            g_loss.backward()
            self._step_module(batch)
        self.history.record_batch("d_loss", float(d_loss.detach()))
        self.history.record_batch("model_prob", model_prob)
        self.history.record_batch("g_step", int(g_step))
        return {"loss": g_loss.detach(), "y_pred": fake.detach()}
