import pytest
import torch
from torchvision.models import mobilenet_v2, mobilenet_v3_small

from vision.ssd import create_net
from vision.ssd import weights
from vision.ssd.weights import WeightsError, load_imagenet_base_net, load_weights


def same_weights(a, b, prefix=""):
    return all(torch.equal(value, b.state_dict()[key])
               for key, value in a.state_dict().items() if key.startswith(prefix))


def test_plain_state_dict_of_the_earlier_tools_loads_strictly(tmp_path):
    source = create_net("mb2-ssd-lite", 21)
    torch.save(source.state_dict(), tmp_path / "mb2-ssd-lite-mp-0_686.pth")
    target = create_net("mb2-ssd-lite", 21)
    assert "loaded" in load_weights(target, str(tmp_path / "mb2-ssd-lite-mp-0_686.pth"))
    assert same_weights(source, target)
    x = torch.randn(1, 3, 300, 300)
    with torch.no_grad():
        torch.testing.assert_close(source.eval()(x), target.eval()(x))


def test_our_checkpoint_and_wrapped_keys_load(tmp_path):
    source = create_net("mb1-ssd", 3)
    wrapped = {"module." + key: value for key, value in source.state_dict().items()}
    torch.save({"model": wrapped, "net": "mb1-ssd", "epoch": 4}, tmp_path / "ckpt.pth")
    target = create_net("mb1-ssd", 3)
    load_weights(target, str(tmp_path / "ckpt.pth"))
    assert same_weights(source, target)


def test_checkpoint_of_another_net_is_refused(tmp_path):
    torch.save({"model": create_net("mb1-ssd", 3).state_dict(), "net": "mb1-ssd"}, tmp_path / "c.pth")
    with pytest.raises(WeightsError, match="checkpoint of a mb1-ssd net, not mb1-ssd-lite"):
        load_weights(create_net("mb1-ssd-lite", 3), str(tmp_path / "c.pth"))


def test_other_class_count_reinitializes_only_the_classification_heads(tmp_path):
    source = create_net("mb1-ssd", 21)
    torch.save(source.state_dict(), tmp_path / "voc.pth")
    target = create_net("mb1-ssd", 4)
    message = load_weights(target, str(tmp_path / "voc.pth"))
    assert "21 classes" in message and "re-initialized" in message
    assert same_weights(target, source, "base_net.") and same_weights(target, source, "regression_headers.")
    assert target.classification_headers[0].weight.shape[0] == 6 * 4


def test_base_net_only_file_loads_into_the_base_net(tmp_path):
    source = create_net("mb1-ssd", 3)
    torch.save(source.base_net.state_dict(), tmp_path / "mobilenet_v1_with_relu_69_5.pth")
    target = create_net("mb1-ssd", 5)
    assert "base net" in load_weights(target, str(tmp_path / "mobilenet_v1_with_relu_69_5.pth"))
    assert same_weights(target, source, "base_net.")
    assert not same_weights(target, source, "extras.")


def test_weights_of_another_net_name_the_right_net(tmp_path):
    torch.save(create_net("mb1-ssd", 21).state_dict(), tmp_path / "mb1.pth")
    with pytest.raises(WeightsError, match="look like a mb1-ssd model: pass --net mb1-ssd") as error:
        load_weights(create_net("mb2-ssd-lite", 21), str(tmp_path / "mb1.pth"))
    assert "\n" not in str(error.value) and "mb1.pth" in str(error.value)


@pytest.mark.parametrize("content, message", [
    (b"this is not a checkpoint", "not a PyTorch weights file"),
    (None, "no such file"),
])
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        load_weights(create_net("mb1-ssd", 3), str(path))


def test_a_pickled_model_is_explained(tmp_path):
    torch.save(create_net("mb1-ssd", 3), tmp_path / "model.pth")
    with pytest.raises(WeightsError, match="save model.state_dict"):
        load_weights(create_net("mb1-ssd", 3), str(tmp_path / "model.pth"))


def cache_torchvision_file(monkeypatch, tmp_path, net_name, features):
    """Put torchvision-style weights where torch.hub looks for them, so nothing is downloaded."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = weights.IMAGENET_BASE_NETS[net_name][0].url
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    state = {"features." + key: value for key, value in features.state_dict().items()}
    torch.save(state, tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1])


@pytest.mark.parametrize("net_name, model", [("mb2-ssd-lite", mobilenet_v2),
                                             ("mb3-small-ssd-lite", mobilenet_v3_small)])
def test_torchvision_imagenet_weights_fill_the_base_net(monkeypatch, tmp_path, net_name, model):
    features = model().features
    cache_torchvision_file(monkeypatch, tmp_path, net_name, features)
    net = create_net(net_name, 3)
    load_imagenet_base_net(net)
    ours = list(net.base_net.state_dict().values())
    theirs = list(features.state_dict().values())
    assert len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs))


def test_imagenet_weights_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    class Unreachable:
        url = "http://127.0.0.1:9/mobilenet_v2.pth"  # port 9 (discard) has no server here

    monkeypatch.setitem(weights.IMAGENET_BASE_NETS, "mb2-ssd-lite", (Unreachable, "order"))
    with pytest.raises(WeightsError, match="could not download ImageNet weights for mb2-ssd-lite"):
        load_imagenet_base_net(create_net("mb2-ssd-lite", 3))


def test_no_torchvision_weights_for_mobilenet_v1():
    with pytest.raises(WeightsError, match="no ImageNet weights"):
        load_imagenet_base_net(create_net("mb1-ssd", 3))


def test_an_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch):
    path = tmp_path / "locked.pth"
    path.write_bytes(b"\x80")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(weights, "open", refuse, raising=False)  # root reads any file: refuse it here
    with pytest.raises(WeightsError, match=r"locked.pth: cannot be read \(Permission denied\)$"):
        load_weights(create_net("mb1-ssd", 3), str(path))
