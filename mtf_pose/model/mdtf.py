"""The Mamba-Driven Topology Fusion network (Zheng et al., arXiv 2505.20611), as released.

Two networks in one module, so that one state dict holds everything:

- ``bam``: the Bone Aware Module, 2D clip -> per-joint polar-angle class logits (stage 1);
- ``lifter``: 2D clip + parameter-free bone features -> root-relative 3D (stage 2).

Parameter names follow the official checkpoints (``Spatial_patch_to_embedding1``, ``STEblocks``, ``A_b_log``,
...), so converting them is a matter of prefixes. Tensors are channels-last throughout: spatial blocks
see ``(batch * frames, joints, channels)``, temporal blocks ``(batch * joints, frames, channels)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mtf_pose import skeleton
from mtf_pose.model.config import ModelConfig
from mtf_pose.model.ops import causal_conv1d, resolve_backend, selective_scan

# LayerNorm eps of the blocks (the released code's ``partial(nn.LayerNorm, eps=1e-6)``); the GCN's
# input norm and the head keep PyTorch's default 1e-5, as released.
BLOCK_NORM_EPS = 1e-6


def skeleton_adjacency(num_joints: int = skeleton.NUM_JOINTS) -> torch.Tensor:
    """0/1 adjacency of the 16 H36M bones in both directions, without self loops."""
    adjacency = torch.zeros(num_joints, num_joints)
    for parent, child in skeleton.BONES:
        adjacency[parent, child] = adjacency[child, parent] = 1.0
    return adjacency


class DropPath(nn.Module):
    """Stochastic depth: drops a whole residual branch per sample while training."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SkeletonGCN(nn.Module):
    """MotionAGFormer's spatial GCN: ``relu(x + BN(A_hat @ V(x) + U(x)))``, BN over the joint axis."""

    adjacency: torch.Tensor

    def __init__(self, dim: int, adjacency: torch.Tensor) -> None:
        super().__init__()
        num_joints = adjacency.shape[0]
        self.U = nn.Linear(dim, dim)
        self.V = nn.Linear(dim, dim)
        self.batch_norm = nn.BatchNorm1d(num_joints)
        nn.init.normal_(self.U.weight, 0.0, math.sqrt(2.0 / dim))
        nn.init.normal_(self.V.weight, 0.0, math.sqrt(2.0 / dim))
        degree_inv_sqrt = adjacency.sum(-1).pow(-0.5)
        normalized = degree_inv_sqrt[:, None] * adjacency * degree_inv_sqrt[None, :]
        self.register_buffer("adjacency", normalized, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        aggregate = torch.matmul(self.adjacency, self.V(x))
        return F.relu(x + self.batch_norm(aggregate + self.U(x)))


@dataclass
class _StreamParams:
    conv: nn.Conv1d
    x_proj: nn.Linear
    dt_proj: nn.Linear
    A_log: nn.Parameter
    D: nn.Parameter


class BidirectionalMamba(nn.Module):
    """Vim's "v2" bidirectional Mamba mixer; GCN-enhanced (GEM) when given a skeleton adjacency.

    The backward stream has its own parameters (``conv1d_b``, ``x_proj_b``, ``dt_proj_b``, ``A_b_log``,
    ``D_b``, and for the GEM ``norm_gcn_b``/``gcn_b`` working on the reversed joint order). Both streams are
    gated by ``silu(z)``; the output is ``out_proj((y_forward + y_backward) / 2)``.
    """

    def __init__(
        self,
        dim: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 1,
        adjacency: torch.Tensor | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_init_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        inner = expand * dim
        self.d_state = d_state
        self.dt_rank = math.ceil(dim / 16)
        self.backend = "auto"
        self.in_proj = nn.Linear(dim, 2 * inner, bias=False)
        for suffix in ("", "_b"):
            setattr(self, f"conv1d{suffix}", nn.Conv1d(inner, inner, d_conv, groups=inner, padding=d_conv - 1))
            setattr(self, f"x_proj{suffix}", nn.Linear(inner, self.dt_rank + 2 * d_state, bias=False))
            dt_proj = nn.Linear(self.dt_rank, inner)
            _init_dt_proj(dt_proj, self.dt_rank, dt_min, dt_max, dt_init_floor)
            setattr(self, f"dt_proj{suffix}", dt_proj)
            # S4D-real initialisation: A = -(1, 2, ..., N) for every channel.
            A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(inner, 1)
            setattr(self, "A_log" if not suffix else "A_b_log", nn.Parameter(torch.log(A)))
            setattr(self, f"D{suffix}", nn.Parameter(torch.ones(inner)))
        self.out_proj = nn.Linear(inner, dim, bias=False)
        self.graph = adjacency is not None
        if adjacency is not None:
            self.norm_gcn = nn.LayerNorm(inner)
            self.gcn = SkeletonGCN(inner, adjacency)
            self.norm_gcn_b = nn.LayerNorm(inner)
            self.gcn_b = SkeletonGCN(inner, adjacency.flip(0).flip(1))

    def _stream(self, suffix: str) -> _StreamParams:
        return _StreamParams(
            conv=getattr(self, f"conv1d{suffix}"),
            x_proj=getattr(self, f"x_proj{suffix}"),
            dt_proj=getattr(self, f"dt_proj{suffix}"),
            A_log=getattr(self, "A_log" if not suffix else "A_b_log"),
            D=getattr(self, f"D{suffix}"),
        )

    def _run_stream(self, x: torch.Tensor, z: torch.Tensor, params: _StreamParams, reverse: bool) -> torch.Tensor:
        u = causal_conv1d(
            x, params.conv.weight[:, 0], params.conv.bias, activation="silu", reverse=reverse, backend=self.backend
        )
        dt, B, C = params.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, params.dt_proj.weight)  # the bias goes in with the softplus, inside the scan
        return selective_scan(
            u, delta, -torch.exp(params.A_log.float()), B, C, params.D.float(), z=z,
            delta_bias=params.dt_proj.bias.float(), delta_softplus=True, reverse=reverse, backend=self.backend,
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        # Two half-size projections instead of one and a split: x and z come out contiguous.
        x_weight, z_weight = self.in_proj.weight.chunk(2)
        x, z = F.linear(hidden, x_weight), F.linear(hidden, z_weight)
        if self.graph:
            # The backward stream sees the joints reversed, through its own GCN, taken before the forward GCN.
            x_backward = self.gcn_b(self.norm_gcn_b(x.flip(1))).flip(1)
            x_forward = self.gcn(self.norm_gcn(x))
        else:
            x_forward = x_backward = x
        y_forward = self._run_stream(x_forward, z, self._stream(""), reverse=False)
        y_backward = self._run_stream(x_backward, z, self._stream("_b"), reverse=True)
        return self.out_proj((y_forward + y_backward) / 2)


def _init_dt_proj(dt_proj: nn.Linear, dt_rank: int, dt_min: float, dt_max: float, floor: float) -> None:
    """Mamba's initialisation: softplus(bias) log-uniform in [dt_min, dt_max]."""
    std = dt_rank**-0.5
    nn.init.uniform_(dt_proj.weight, -std, std)
    dt = torch.exp(torch.rand(dt_proj.out_features) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=floor)
    with torch.no_grad():
        dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus


class MambaBlock(nn.Module):
    """Pre-norm residual block: ``x + mamba(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, mlp_hidden: int, d_state: int, d_conv: int, expand: int, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.mamba = BidirectionalMamba(dim, d_state=d_state, d_conv=d_conv, expand=expand)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.mamba(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SpatialGcnMambaBlock(nn.Module):
    """The spatial block of the joint stream: :class:`MambaBlock` with the GCN-enhanced mixer."""

    def __init__(
        self, dim: int, mlp_hidden: int, d_state: int, d_conv: int, expand: int, drop_path: float,
        adjacency: torch.Tensor,
    ) -> None:
        super().__init__()
        self.mambanorm1 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.gcnmamba = BidirectionalMamba(dim, d_state=d_state, d_conv=d_conv, expand=expand, adjacency=adjacency)
        self.drop_path = DropPath(drop_path)
        self.mambanorm2 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.gcnmamba(self.mambanorm1(x)))
        return x + self.drop_path(self.mlp(self.mambanorm2(x)))


def _to_temporal(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(batch * frames, joints, C) -> (batch * joints, frames, C)."""
    _, joints, channels = x.shape
    return x.reshape(batch, -1, joints, channels).transpose(1, 2).reshape(batch * joints, -1, channels)


def _to_spatial(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(batch * joints, frames, C) -> (batch * frames, joints, C)."""
    _, frames, channels = x.shape
    return x.reshape(batch, -1, frames, channels).transpose(1, 2).reshape(batch * frames, -1, channels)


class BoneAwareModule(nn.Module):
    """Stage 1: per-joint logits of the polar angle of the bone ending at each joint (30-degree bins)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        bam = config.bam
        widths = bam.widths()
        rates = torch.linspace(0, config.drop_path_rate, bam.depth).tolist()
        block = {"d_state": config.d_state, "d_conv": config.d_conv, "expand": config.expand}
        self.Spatial_patch_to_embedding = nn.Linear(3, bam.channels)
        self.STEblocks = nn.ModuleList(
            MambaBlock(w, int(w * config.mlp_ratio), drop_path=r, **block) for w, r in zip(widths, rates)
        )
        self.TTEblocks = nn.ModuleList(
            MambaBlock(w, int(w * config.mlp_ratio), drop_path=r, **block) for w, r in zip(widths, rates)
        )
        self.Spatial_norm = nn.ModuleList(nn.LayerNorm(w, eps=BLOCK_NORM_EPS) for w in widths)
        self.Temporal_norm = nn.ModuleList(nn.LayerNorm(w, eps=BLOCK_NORM_EPS) for w in widths)
        self.mlp = nn.ModuleList(nn.Linear(w, n) for w, n in zip(widths, widths[1:] + [bam.num_classes]))

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """``(B, T, J, 3)`` normalised keypoints -> ``(B, T, J, num_classes)`` logits."""
        batch, frames, joints, _ = keypoints.shape
        x = self.Spatial_patch_to_embedding(keypoints).reshape(batch * frames, joints, -1)
        for spatial, spatial_norm, temporal, temporal_norm, head in zip(
            self.STEblocks, self.Spatial_norm, self.TTEblocks, self.Temporal_norm, self.mlp
        ):
            x = spatial_norm(spatial(x))
            x = _to_spatial(temporal_norm(temporal(_to_temporal(x, batch))), batch)
            x = head(x)
        return x.reshape(batch, frames, joints, -1)


def polar_angle_classes(joints_3d: torch.Tensor, num_classes: int = 6) -> torch.Tensor:
    """BAM training targets: bin of the polar angle (from the camera z axis) of the bone ending at each joint.

    ``joints_3d`` ``(..., J, 3)`` camera-frame positions; returns ``(..., J)`` int64 in
    ``[0, num_classes)``; the root, which ends no bone, is class 0.
    """
    parents = torch.tensor([p for p, _ in skeleton.BONES], device=joints_3d.device)
    children = torch.tensor([c for _, c in skeleton.BONES], device=joints_3d.device)
    bones = joints_3d[..., children, :] - joints_3d[..., parents, :]
    polar = torch.atan2(torch.linalg.vector_norm(bones[..., :2], dim=-1), bones[..., 2])  # [0, pi]
    bins = torch.floor(polar / math.pi * num_classes).long().clamp_(0, num_classes - 1)
    classes = torch.zeros(joints_3d.shape[:-1], dtype=torch.long, device=joints_3d.device)
    classes[..., children] = bins
    return classes


def bone_features(keypoints: torch.Tensor, bam_logits: torch.Tensor) -> torch.Tensor:
    """Parameter-free bone features from 2D bones and the BAM's polar-angle classes.

    For bone ``i`` (parent -> child): azimuth ``phi = atan2(dy, dx) / pi``, polar angle
    ``theta = (k + 1/2) / K`` (in units of pi, the centre of the predicted bin ``k`` of the child joint),
    ``dz = |(dx, dy)| / tan(theta * pi)`` and length ``|(dx, dy, dz)|``. Returns ``(B, T, J, 3)``: bone
    ``i`` in row ``i`` and a zero last row (the released order).
    """
    num_classes = bam_logits.shape[-1]
    parents = [p for p, _ in skeleton.BONES]
    children = [c for _, c in skeleton.BONES]
    uv = keypoints[..., :2]
    bones_2d = uv[..., children, :] - uv[..., parents, :]
    azimuth = torch.atan2(bones_2d[..., 1], bones_2d[..., 0]) / math.pi
    polar = (bam_logits.argmax(-1)[..., children].to(uv.dtype) + 0.5) / num_classes
    length_2d = torch.linalg.vector_norm(bones_2d, dim=-1)
    dz = length_2d / torch.tan(polar * math.pi)
    length = torch.linalg.vector_norm(torch.cat([bones_2d, dz[..., None]], dim=-1), dim=-1)
    features = torch.stack([azimuth, polar, length], dim=-1)
    return F.pad(features, (0, 0, 0, 1))


class MDTFLifter(nn.Module):
    """Stage 2: joint stream (GCN-enhanced), bone stream, learned fusion, refinement blocks, head."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        channels, depth = config.channels, config.depth
        hidden = int(channels * config.mlp_ratio)
        block = {"d_state": config.d_state, "d_conv": config.d_conv, "expand": config.expand}
        rates = torch.linspace(0, config.drop_path_rate, depth).tolist()
        adjacency = skeleton_adjacency(config.joints)
        self.Spatial_patch_to_embedding1 = nn.Linear(3, channels)
        self.Spatial_patch_to_embedding2 = nn.Linear(3, channels)
        self.Spatial_pos_embed = nn.Parameter(torch.zeros(1, config.joints, channels))
        self.Temporal_pos_embed = nn.Parameter(torch.zeros(1, config.frames, channels))
        self.STEblocks = nn.ModuleList(
            SpatialGcnMambaBlock(channels, hidden, drop_path=r, adjacency=adjacency, **block) for r in rates
        )
        self.TTEblocks = nn.ModuleList(MambaBlock(channels, hidden, drop_path=r, **block) for r in rates)
        self.limbSpatialMamba = MambaBlock(channels, hidden, drop_path=rates[0], **block)
        self.limbSpatialNorm = nn.LayerNorm(channels, eps=BLOCK_NORM_EPS)
        self.limbTemporalMamba = MambaBlock(channels, hidden, drop_path=rates[0], **block)
        self.limbTemporalNorm = nn.LayerNorm(channels, eps=BLOCK_NORM_EPS)
        self.fusion = nn.Linear(2 * channels, 2)
        nn.init.zeros_(self.fusion.weight)  # both streams weighted equally at the start
        nn.init.constant_(self.fusion.bias, 0.5)
        self.Spatial_norm = nn.LayerNorm(channels, eps=BLOCK_NORM_EPS)
        self.Temporal_norm = nn.LayerNorm(channels, eps=BLOCK_NORM_EPS)
        self.head = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, 3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, T, J, 6)`` = keypoints ``(u, v, confidence)`` + bone features -> ``(B, T, J, 3)``."""
        batch, frames, joints, _ = features.shape
        keypoints, bones = features.split([3, 3], dim=-1)

        x = self.Spatial_patch_to_embedding1(keypoints) + self.Spatial_pos_embed
        x = self.Spatial_norm(self.STEblocks[0](x.reshape(batch * frames, joints, -1)))
        x = _to_temporal(x, batch) + self.Temporal_pos_embed
        x = self.Temporal_norm(self.TTEblocks[0](x))

        limbs = self.Spatial_patch_to_embedding2(bones).reshape(batch * frames, joints, -1)
        limbs = self.limbSpatialNorm(self.limbSpatialMamba(limbs))
        limbs = self.limbTemporalNorm(self.limbTemporalMamba(_to_temporal(limbs, batch)))

        weights = self.fusion(torch.cat([x, limbs], dim=-1)).softmax(dim=-1)
        x = _to_spatial(x * weights[..., :1] + limbs * weights[..., 1:], batch)

        for spatial, temporal in zip(self.STEblocks[1:], self.TTEblocks[1:]):
            x = self.Spatial_norm(spatial(x))
            x = _to_spatial(self.Temporal_norm(temporal(_to_temporal(x, batch))), batch)
        # The head stays in the weights' precision under autocast: a bfloat16 output, rounded independently
        # in every frame, shows up as jitter that the velocity loss then chases.
        with torch.autocast(x.device.type, enabled=False):
            pose = self.head(x.to(next(self.head.parameters()).dtype))
        return pose.reshape(batch, frames, joints, 3)


@dataclass
class MDTFOutput:
    """Everything one forward pass computes."""

    pose: torch.Tensor
    """``(B, T, J, 3)`` root-relative 3D in normalised units (z scaled like x)."""
    bam_logits: torch.Tensor
    """``(B, T, J, num_classes)`` polar-angle class logits of the Bone Aware Module."""
    bone_features: torch.Tensor
    """``(B, T, J, 3)`` per-bone ``(azimuth, polar, length)`` rows, the last row zero."""


class MDTF(nn.Module):
    """The whole network: ``forward`` maps a normalised ``(B, T, 17, 3)`` clip to ``(B, T, 17, 3)`` 3D."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.bam = BoneAwareModule(config)
        self.lifter = MDTFLifter(config)

    def set_backend(self, backend: str) -> MDTF:
        """Use ``backend`` (``"auto"``, ``"torch"``, ``"numba"`` or ``"cuda"``) for every scan and convolution."""
        resolve_backend(backend, torch.empty(0, device=self._device()), cuda_available=True)
        for module in self.modules():
            if isinstance(module, BidirectionalMamba):
                module.backend = backend
        return self

    @property
    def backend(self) -> str:
        """The backend requested with :meth:`set_backend` (``"auto"`` unless changed)."""
        return next(m.backend for m in self.modules() if isinstance(m, BidirectionalMamba))

    def resolved_backend(self) -> str:
        """The backend the scans actually run on for this model's device and dtype."""
        parameter = next(self.parameters())
        return resolve_backend(self.backend, parameter)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _check_input(self, keypoints: torch.Tensor) -> None:
        expected = f"(batch, {self.config.frames}, {self.config.joints}, 3)"
        if not isinstance(keypoints, torch.Tensor):
            raise TypeError(f"keypoints must be a torch.Tensor of shape {expected}, got {type(keypoints).__name__}")
        if keypoints.dim() != 4 or tuple(keypoints.shape[1:]) != (self.config.frames, self.config.joints, 3):
            raise ValueError(
                f"keypoints must have shape {expected} (normalised u, v, confidence), got {tuple(keypoints.shape)}"
            )
        if not torch.is_floating_point(keypoints):
            raise TypeError(f"keypoints must be floating point, got {keypoints.dtype}")

    def forward_details(self, keypoints: torch.Tensor) -> MDTFOutput:
        """The 3D pose together with the BAM logits and the bone features it was computed from."""
        self._check_input(keypoints)
        logits = self.bam(keypoints)
        features = bone_features(keypoints, logits)
        pose = self.lifter(torch.cat([keypoints, features], dim=-1))
        return MDTFOutput(pose=pose, bam_logits=logits, bone_features=features)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        return self.forward_details(keypoints).pose

    @torch.no_grad()
    def predict(self, keypoints: torch.Tensor, flip: bool = True) -> torch.Tensor:
        """Evaluation-time prediction: optional flip averaging, root joint set to zero.

        With ``flip`` the clip is also run mirrored (u negated, left and right joints swapped) and the
        mirrored-back prediction is averaged in, as in the released evaluation. Does not change
        ``self.training``; call ``eval()`` first for deterministic output.
        """
        pose = self(keypoints)
        if flip:
            pose = (pose + flip_pose(self(flip_pose(keypoints)))) / 2
        pose[..., skeleton.ROOT, :] = 0.0
        return pose


def flip_pose(x: torch.Tensor) -> torch.Tensor:
    """Mirror ``(..., 17, C)`` keypoints or poses horizontally: negate the first coordinate, swap sides."""
    flipped = x[..., skeleton.flip_permutation(), :].clone()
    flipped[..., 0] = -flipped[..., 0]
    return flipped
