"""Run a small Keras 2 functional model saved as HDF5 with plain TensorFlow ops.

The age/gender and emotion weight files were saved by Keras 2.0 (2017). Current Keras
cannot rebuild every layer config of that era, and photoface needs no training, so the
file's own graph description (``model_config``) is read and each layer is evaluated with
``tf.nn`` ops on the stored weights, inside one ``tf.function``. Only the inference
behaviour of the layer types these files use is implemented; anything else is refused.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ModelError

_ACTIVATIONS = {"linear": lambda tf, x: x, "relu": lambda tf, x: tf.nn.relu(x),
                "softmax": lambda tf, x: tf.nn.softmax(x, axis=-1), "sigmoid": lambda tf, x: tf.sigmoid(x)}


def _read(path: Path):
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            config = json.loads(h5.attrs["model_config"])
            group = h5["model_weights"] if "model_weights" in h5 else h5
            weights = {}
            for name in group.attrs["layer_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                layer = group[name]
                names = [w.decode() if isinstance(w, bytes) else w for w in layer.attrs["weight_names"]]
                # "conv2d_1_1/kernel:0" -> "kernel"
                weights[name] = {w.rsplit("/", 1)[-1].split(":")[0]: np.asarray(layer[w]) for w in names}
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"cannot read the Keras weight file {path}: {exc}") from exc
    if config.get("class_name") not in ("Model", "Functional"):
        raise ModelError(f"{path} holds a {config.get('class_name')}, expected a functional Keras model")
    return config["config"], weights


class KerasH5Network:
    """A Keras 2 functional model from an HDF5 file, evaluated as one TensorFlow graph.

    Call with a float32 NHWC batch; returns a list of numpy arrays, one per model output.
    """

    def __init__(self, tf, path: Path, device: str):
        self._tf = tf
        self._device = device
        config, self._weights = _read(path)
        self._layers = {layer["config"]["name"]: layer for layer in config["layers"]}
        self._inputs = [name for name, _, _ in config["input_layers"]]
        self._outputs = [name for name, _, _ in config["output_layers"]]
        if len(self._inputs) != 1:
            raise ModelError(f"{path}: expected one input, found {len(self._inputs)}")
        shape = self._layers[self._inputs[0]]["config"]["batch_input_shape"]
        self.input_shape = tuple(shape[1:])
        with tf.device(device):
            self._consts = {layer: {k: tf.constant(v) for k, v in ws.items()} for layer, ws in self._weights.items()}
            for layer in self._layers.values():
                self._check(layer)
            self._fn = tf.function(self._forward, reduce_retracing=True, autograph=False,
                                   input_signature=[tf.TensorSpec([None, *self.input_shape], tf.float32)])

    def _check(self, layer: dict) -> None:
        kind, cfg = layer["class_name"], layer["config"]
        known = {"InputLayer", "Conv2D", "SeparableConv2D", "BatchNormalization", "Activation", "MaxPooling2D",
                 "AveragePooling2D", "GlobalAveragePooling2D", "Add", "Flatten", "Dense", "Dropout"}
        if kind not in known:
            raise ModelError(f"layer {cfg['name']!r} of type {kind} is not supported")
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise ModelError(f"layer {cfg['name']!r} is not channels_last")
        if cfg.get("activation", "linear") not in _ACTIVATIONS:
            raise ModelError(f"layer {cfg['name']!r} has an unsupported activation {cfg['activation']!r}")
        if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
            raise ModelError(f"layer {cfg['name']!r} uses dilation")

    def _forward(self, x):
        values = {self._inputs[0]: x}

        def value_of(name):
            if name not in values:
                layer = self._layers[name]
                args = [value_of(src) for src, _, _, *_ in layer["inbound_nodes"][0]]
                values[name] = self._apply(layer, args)
            return values[name]

        return [value_of(name) for name in self._outputs]

    def _apply(self, layer: dict, args: list):
        tf = self._tf
        kind, cfg = layer["class_name"], layer["config"]
        w = self._consts.get(cfg["name"], {})
        x = args[0]
        padding = cfg.get("padding", "valid").upper()
        strides = cfg.get("strides")
        match kind:
            case "Conv2D":
                x = tf.nn.conv2d(x, w["kernel"], strides=strides, padding=padding)
                if cfg["use_bias"]:
                    x = tf.nn.bias_add(x, w["bias"])
            case "SeparableConv2D":
                if cfg.get("depth_multiplier", 1) != 1:
                    raise ModelError(f"layer {cfg['name']!r}: depth multiplier other than 1")
                x = tf.nn.separable_conv2d(x, w["depthwise_kernel"], w["pointwise_kernel"],
                                           strides=[1, *strides, 1], padding=padding)
                if cfg["use_bias"]:
                    x = tf.nn.bias_add(x, w["bias"])
            case "BatchNormalization":
                if cfg.get("axis", -1) not in (-1, 3):
                    raise ModelError(f"layer {cfg['name']!r}: batch normalization over axis {cfg['axis']}")
                gamma = w["gamma"] if cfg.get("scale", True) else None
                beta = w["beta"] if cfg.get("center", True) else None
                x = tf.nn.batch_normalization(x, w["moving_mean"], w["moving_variance"], beta, gamma,
                                              cfg["epsilon"])
            case "Activation":
                pass
            case "MaxPooling2D":
                x = tf.nn.max_pool2d(x, cfg["pool_size"], strides, padding)
            case "AveragePooling2D":
                x = tf.nn.avg_pool2d(x, cfg["pool_size"], strides, padding)
            case "GlobalAveragePooling2D":
                x = tf.reduce_mean(x, axis=[1, 2])
            case "Add":
                x = tf.add_n(args)
            case "Flatten":
                x = tf.reshape(x, [tf.shape(x)[0], -1])
            case "Dense":
                x = tf.matmul(x, w["kernel"])
                if cfg["use_bias"]:
                    x = tf.nn.bias_add(x, w["bias"])
            case "Dropout" | "InputLayer":
                pass
        return _ACTIVATIONS[cfg.get("activation", "linear")](tf, x)

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        with self._tf.device(self._device):
            return [out.numpy() for out in self._fn(self._tf.constant(batch, self._tf.float32))]
