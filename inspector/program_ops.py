"""The ATen operators an uploaded `.pt2` program may call, each with the reason it is admitted.

An exported program is a list of calls. The analysis runs each call once, on `meta` tensors, to
learn its output's shape; so every operator admitted here must be one whose meaning this tool
knows and which, given meta tensors, touches nothing but its own result: no file, no storage,
no other tensor, no other process, no random-number state. `inspector.exported` refuses every
other target by name before torch's deserializer sees the program, and its docstring lists the
families of operators that were checked and why they stay out. `tests/test_exported_ops.py`
walks every overload registered under `aten` and checks the admitted ones against their schemas.
"""

from __future__ import annotations

#: Layers: rebuilt as torch.nn modules of the weights' shapes (`exported._Rebuilder._layer`).
_LAYERS = {
    "aten.conv2d.default": "a 2-D convolution, rebuilt as nn.Conv2d",
    "aten.batch_norm.default": "batch norm, rebuilt as nn.BatchNorm2d",
    "aten._native_batch_norm_legit_no_training.default":
        "batch norm in evaluation mode (what export writes for model.eval()), rebuilt as "
        "nn.BatchNorm2d",
    "aten.linear.default": "a fully connected layer, rebuilt as nn.Linear",
    "aten.max_pool2d.default": "max pooling, rebuilt as nn.MaxPool2d",
    "aten.avg_pool2d.default": "average pooling, rebuilt as nn.AvgPool2d",
    "aten.adaptive_avg_pool2d.default": "global average pooling, rebuilt as "
                                        "nn.AdaptiveAvgPool2d",
}

_ACTIVATIONS = {
    f"aten.{name}": "an element-wise activation: a new tensor of its input's shape"
    for name in ("relu.default", "hardtanh.default", "relu6.default", "leaky_relu.default",
                 "gelu.default", "silu.default", "sigmoid.default", "tanh.default",
                 "hardswish.default", "hardsigmoid.default", "elu.default", "softmax.int",
                 "_softmax.default", "log_softmax.int", "_log_softmax.default")
}

_ARITHMETIC = {
    f"aten.{name}": "arithmetic on tensors or numbers: a new tensor, inputs unchanged"
    for name in ("add.Tensor", "add.Scalar", "mul.Tensor", "mul.Scalar", "sub.Tensor",
                 "sub.Scalar", "rsub.Scalar", "div.Tensor", "div.Scalar", "neg.default",
                 "mm.default", "addmm.default", "bmm.default", "matmul.default",
                 "mean.dim", "mean.default", "sum.dim_IntList", "amax.default")
}

_SHAPES = {
    f"aten.{name}": "a change of shape or a view: reads its input, writes nothing"
    for name in ("cat.default", "stack.default", "flatten.using_ints", "view.default",
                 "reshape.default", "_unsafe_view.default", "permute.default", "transpose.int",
                 "t.default", "unsqueeze.default", "squeeze.dim", "squeeze.dims",
                 "squeeze.default", "expand.default", "slice.Tensor", "select.int",
                 "chunk.default", "split.Tensor", "clone.default", "alias.default",
                 "detach.default", "contiguous.default", "pad.default",
                 "constant_pad_nd.default")
}

_ZEROS = {
    f"aten.{name}": "zeros for a zero-padded (option A) shortcut; made on meta whatever "
                    "device the file names"
    for name in ("zeros.default", "zeros_like.default", "new_zeros.default")
}

#: In-place forms that export writes for `nn.ReLU(inplace=True)`, `x += y` and the like: their
#: only write is into their own activation, and the analysis calls the out-of-place overload
#: named here instead, so no in-place operator ever runs.
IN_PLACE_AS: dict[str, str] = {
    "aten.relu_.default": "aten.relu.default",
    "aten.hardtanh_.default": "aten.hardtanh.default",
    "aten.leaky_relu_.default": "aten.leaky_relu.default",
    "aten.silu_.default": "aten.silu.default",
    "aten.sigmoid_.default": "aten.sigmoid.default",
    "aten.hardswish_.default": "aten.hardswish.default",
    "aten.add_.Tensor": "aten.add.Tensor",
}

_IN_PLACE = {name: f"in-place form of {functional}, which runs instead"
             for name, functional in IN_PLACE_AS.items()}

#: Every operator a program may call ("aten.NAME.OVERLOAD") -> why it is admitted.
ALLOWED_OPS: dict[str, str] = {**_LAYERS, **_ACTIVATIONS, **_ARITHMETIC, **_SHAPES, **_ZEROS,
                               **_IN_PLACE}
#: How a call target is written in a program's JSON: "torch.ops." + the operator's name.
TARGET_PREFIX = "torch.ops."
#: Multi-output operators (batch norm's three results) are read through Python's getitem.
GETITEM_TARGET = "_operator.getitem"


def is_allowed_target(target: object) -> bool:
    """Whether a call target, as a program's JSON writes it, is admitted."""
    return isinstance(target, str) and (
        target == GETITEM_TARGET
        or (target.startswith(TARGET_PREFIX) and target[len(TARGET_PREFIX):] in ALLOWED_OPS))
