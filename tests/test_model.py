"""Network: shape inference matches what torch computes, the summary is right, predict() and the size limit."""
import pytest
import torch
from torch import nn

from playground.layers import LAYERS
from playground.model import MAX_PARAMS, Network
from playground.spec import LayerSpec, ModelSpec, SpecError
from playground.telemetry import capture_activations

DIGITS = (1, 8, 8)
TOY = (2,)
SUMMARY_COLUMNS = ["layer", "type", "output shape", "params", "note"]


def net(layers: list[dict], input_shape=DIGITS, n_outputs: int = 10) -> Network:
    return Network(ModelSpec.from_dict({"layers": layers}), input_shape, n_outputs)


def assert_shapes_match_torch(model: Network, batch: int = 5) -> None:
    """Every block's inferred out_shape equals the shape of what it really outputs."""
    outputs = capture_activations(model, torch.rand(batch, *model.input_shape))
    assert list(outputs) == [b.name for b in model.blocks]
    for block in model.blocks:
        assert tuple(outputs[block.name].shape) == (batch, *block.out_shape), block.name


# --- structural -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(LAYERS))
def test_every_layer_kind_on_digits_images(kind):
    model = net([{"type": kind}])
    assert_shapes_match_torch(model)
    assert model.blocks[-1].name == "output" and model.blocks[-1].out_shape == (10,)


@pytest.mark.parametrize("kind", [k for k in LAYERS if k not in ("conv2d", "maxpool2d", "avgpool2d")])
def test_flat_layer_kinds_on_toy_data(kind):
    model = net([{"type": kind}], TOY, 1)
    assert_shapes_match_torch(model)
    assert model.blocks[-1].out_shape == (1,)


def test_a_conv_stack_with_strides_and_padding():
    model = net([{"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 1, "padding": 1},   # 4x8x8
                 {"type": "batchnorm"},
                 {"type": "maxpool2d"},                                                            # 4x4x4
                 {"type": "conv2d", "filters": 6, "kernel_size": 3, "stride": 2, "padding": 0},   # 6x1x1
                 {"type": "dropout", "rate": 0.3},
                 {"type": "dense", "units": 7, "activation": "elu"}])
    assert [b.out_shape for b in model.blocks] == [(4, 8, 8), (4, 8, 8), (4, 4, 4), (6, 1, 1), (6, 1, 1),
                                                   (6,), (7,), (10,)]
    assert isinstance(model.batchnorm_1[0], nn.BatchNorm2d)
    assert_shapes_match_torch(model)


def test_avgpool_then_batchnorm_after_flatten_is_1d():
    model = net([{"type": "avgpool2d", "kernel_size": 3, "stride": 1}, {"type": "flatten"}, {"type": "batchnorm"}])
    assert model.blocks[0].out_shape == (1, 6, 6) and model.blocks[1].out_shape == (36,)
    assert isinstance(model.batchnorm_2[0], nn.BatchNorm1d)
    assert_shapes_match_torch(model)


def test_summary_lists_every_block_with_params_and_the_inserted_flatten():
    model = net([{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": 0},   # 3x6x6, 1*3*9 + 3 = 30
                 {"type": "maxpool2d"},                                             # 3x3x3
                 {"type": "dense", "units": 5, "activation": "tanh"}])              # 27*5 + 5 = 140
    table = model.summary()
    assert list(table.columns) == SUMMARY_COLUMNS
    assert table["layer"].tolist() == ["input", "conv2d_0", "maxpool2d_1", "flatten_2", "dense_2", "output"]
    assert table["output shape"].tolist() == ["(1, 8, 8)", "(3, 6, 6)", "(3, 3, 3)", "(27)", "(5)", "(10)"]
    assert table["params"].tolist() == [0, 30, 0, 0, 140, 5 * 10 + 10]
    notes = dict(zip(table["layer"], table["note"]))
    assert notes["flatten_2"] == "inserted: dense needs flat input"
    assert notes["output"] == "10 unit(s) sized to the task"
    assert "image of 1x8x8" in notes["input"]
    assert table["params"].sum() == model.num_params() == sum(p.numel() for p in model.parameters()) == 230


def test_output_layer_on_images_gets_its_own_flatten():
    table = net([]).summary()
    assert table["layer"].tolist() == ["input", "flatten_0", "output"]
    assert table["note"][1] == "inserted: the output layer needs flat input"
    assert table["params"].tolist() == [0, 0, 64 * 10 + 10]


def test_blocks_are_named_children_in_order():
    model = net([{"type": "dense", "units": 3, "activation": "linear"}, {"type": "dropout"}], TOY, 1)
    assert [name for name, _ in model.named_children()] == ["dense_0", "dropout_1", "output"]
    assert len(model.dense_0) == 1  # linear activation adds no module
    assert isinstance(model.output[0], nn.Linear) and model.output[0].out_features == 1


def test_init_is_plain_torch_after_manual_seed():
    """Same weights as a plain script that seeds and builds the same layers (what export relies on)."""
    torch.manual_seed(5)
    model = net([{"type": "dense", "units": 4, "activation": "tanh"}], TOY, 1)
    torch.manual_seed(5)
    plain = [nn.Linear(2, 4), nn.Linear(4, 1)]
    assert torch.equal(model.dense_0[0].weight, plain[0].weight) and torch.equal(model.output[0].bias, plain[1].bias)


# --- bad input that needs the data's shape ------------------------------------------------------------

def test_conv2d_on_flat_data_names_the_layer():
    with pytest.raises(SpecError) as info:
        net([{"type": "conv2d"}], TOY, 1)
    assert str(info.value).startswith("model.layers[0]: conv2d needs image input, but each example of this "
                                      "dataset is a flat vector of 2; choose an image dataset")
    assert "before any dense" not in str(info.value)  # it is first already: that advice would not help
    assert info.value.field == "model.layers[0]"


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
def test_pooling_after_dense_needs_an_image(kind):
    with pytest.raises(SpecError, match=rf"^model.layers\[1\]: {kind} needs image input but gets a flat vector of 5"):
        net([{"type": "dense", "units": 5}, {"type": kind}])


@pytest.mark.parametrize("layers, at, says", [
    ([{"type": "maxpool2d", "kernel_size": 9}], 0, "maxpool2d with kernel 9 does not fit an image of 1x8x8"),
    ([{"type": "maxpool2d"}] * 4, 3, "maxpool2d with kernel 2 does not fit an image of 1x1x1"),
    ([{"type": "avgpool2d", "kernel_size": 4, "stride": 4}, {"type": "avgpool2d", "kernel_size": 3}], 1,
     "avgpool2d with kernel 3 does not fit an image of 1x2x2"),
    ([{"type": "conv2d", "kernel_size": 11, "padding": 1}], 0, "conv2d with kernel 11 does not fit"),
])
def test_windows_too_big_for_the_image(layers, at, says):
    with pytest.raises(SpecError, match=rf"^model.layers\[{at}\]: {says}"):
        net(layers)


@pytest.mark.parametrize("layers", [
    [{"type": "dense", "units": 4096}] * 3,                                          # 2 x 16.8M weights and more
    [{"type": "conv2d", "filters": 1024}, {"type": "conv2d", "filters": 1024, "kernel_size": 5}],  # 26M
])
def test_too_many_parameters_is_refused_before_allocating(layers):
    limit = rf"^model.layers: the network has [\d,]+ parameters; the limit is {MAX_PARAMS:,}"
    with pytest.raises(SpecError, match=limit):
        net(layers)


# --- train/eval behaviour -----------------------------------------------------------------------------

def test_predict_uses_eval_mode_and_restores_the_training_flag():
    model = net([{"type": "dense", "units": 64, "activation": "relu"}, {"type": "dropout", "rate": 0.5},
                 {"type": "batchnorm"}], TOY, 1)
    x = torch.randn(50, 2)
    model.train()
    first = model.predict(x)
    assert model.training
    assert torch.equal(first, model.predict(x))                     # no dropout noise, no batch statistics
    assert torch.allclose(first, model.predict(x, batch_size=7))    # chunking does not change eval outputs
    model.eval()
    with torch.no_grad():
        assert torch.equal(first, model(x))
    model.predict(x)
    assert not model.training
    model.train()
    with torch.no_grad():
        assert not torch.allclose(first, model(x))                  # training mode: dropout + batch stats


def test_dropout_zeroes_about_rate_and_rescales_in_training_only():
    block = net([{"type": "dropout", "rate": 0.3}], TOY, 1).dropout_0
    x = torch.ones(20_000, 2)
    torch.manual_seed(0)
    out = block.train()(x)
    assert abs((out == 0).float().mean().item() - 0.3) < 0.02
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / 0.7))
    assert torch.equal(block.eval()(x), x)


def test_batchnorm_normalises_the_batch_in_training_and_uses_running_stats_in_eval():
    block = net([{"type": "batchnorm"}], TOY, 1).batchnorm_0
    x = torch.randn(256, 2) * 5 + 3
    out = block.train()(x)
    assert torch.allclose(out.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(out.std(0, unbiased=False), torch.ones(2), atol=1e-3)
    running = block[0].running_mean.clone()
    assert torch.allclose(running, 0.1 * x.mean(0))                 # momentum 0.1 from zero
    with torch.no_grad():
        block.eval()(x)
    assert torch.equal(block[0].running_mean, running)              # eval does not update the statistics


def wide(init: str, seed: int = 0):
    """A 40 -> 500 -> 300 relu net on the digits-sized input, its weights drawn as `init` says."""
    from playground.objectives import init_weights

    spec = ModelSpec((LayerSpec("dense", units=500, activation="relu"),), init)
    torch.manual_seed(seed)
    net = Network(spec, (40,), 300)
    init_weights(net, spec.init)
    return net


def test_each_initialisation_is_what_it_says():
    import math

    zeros = wide("zeros")
    assert all(torch.count_nonzero(p) == 0 for p in zeros.parameters())  # weights and biases: all zero
    hidden = wide("he").dense_0[0]
    assert hidden.weight.std().item() == pytest.approx(math.sqrt(2 / 40), rel=0.03)  # He: sqrt(2 / fan_in)
    xavier = wide("xavier").output[0].weight
    assert xavier.std().item() == pytest.approx(math.sqrt(2 / (500 + 300)), rel=0.03)  # Glorot
    assert wide("normal").dense_0[0].weight.std().item() == pytest.approx(0.1, rel=0.03)
    assert all(torch.count_nonzero(m.bias) == 0 for m in wide("he").modules() if isinstance(m, nn.Linear))
    torch.manual_seed(0)
    plain = Network(ModelSpec((LayerSpec("dense", units=500, activation="relu"),)), (40,), 300)
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), wide("default").parameters()))  # untouched
    assert all(torch.equal(a, b) for a, b in zip(wide("he", 3).parameters(), wide("he", 3).parameters()))


def test_an_unknown_initialisation_is_refused_by_name():
    with pytest.raises(SpecError, match=r"^model.init: .*xavier"):
        ModelSpec.from_dict({"layers": [], "init": "glorot"})
