import pytest
import torch

from export_helpers import CLASSES, save_checkpoint, write_labels
from vision.ssd import create_net
from vision.ssd.loading import ModelError, load_model, read_model_labels
from vision.ssd.weights import WeightsError

NET = "mb3-small-ssd-lite"  # the quickest to build


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    return create_net(NET, len(CLASSES))


def same_weights(a, b) -> bool:
    return all(torch.equal(value, b.state_dict()[key]) for key, value in a.state_dict().items())


def test_our_checkpoint_gives_its_net_resolution_and_labels(tmp_path, source):
    net, names = load_model(save_checkpoint(tmp_path / "checkpoint-best.pth", source))
    assert (net.net_name, net.resolution, names) == (NET, 300, CLASSES)
    assert net.is_test and not net.training and same_weights(net, source)


def test_plain_state_dict_takes_net_and_labels_from_the_arguments(tmp_path, source):
    torch.save(source.state_dict(), tmp_path / "plain.pth")
    net, names = load_model(str(tmp_path / "plain.pth"), NET, write_labels(tmp_path / "labels.txt"))
    assert names == CLASSES and same_weights(net, source)
    with pytest.raises(ModelError, match="carries no class names"):
        load_model(str(tmp_path / "plain.pth"), NET)


def test_plain_state_dict_warns_that_its_resolution_is_assumed(tmp_path, source, caplog):
    torch.save(source.state_dict(), tmp_path / "plain.pth")
    load_model(str(tmp_path / "plain.pth"), NET, CLASSES)
    assert "does not record the resolution it was trained at: using 300" in caplog.text
    caplog.clear()
    net, _ = load_model(str(tmp_path / "plain.pth"), NET, CLASSES, resolution=320)
    assert net.resolution == 320 and not caplog.text
    load_model(save_checkpoint(tmp_path / "checkpoint-best.pth", source))
    assert not caplog.text


def test_plain_state_dict_of_another_net_names_it(tmp_path, source):
    torch.save(source.state_dict(), tmp_path / "plain.pth")
    with pytest.raises(WeightsError, match=f"look like a {NET} model: pass --net {NET}"):
        load_model(str(tmp_path / "plain.pth"), labels=CLASSES)  # mb1-ssd, as the earlier tools assumed


def test_mb2_width_of_a_plain_state_dict_comes_from_the_arguments(tmp_path):
    source = create_net("mb2-ssd-lite", len(CLASSES), width_mult=0.5)
    torch.save(source.state_dict(), tmp_path / "plain.pth")
    net, _ = load_model(str(tmp_path / "plain.pth"), "mb2-ssd-lite", CLASSES, width_mult=0.5)
    assert same_weights(net, source)
    with pytest.raises(WeightsError, match="shape mismatch"):
        load_model(str(tmp_path / "plain.pth"), "mb2-ssd-lite", CLASSES)


@pytest.mark.parametrize("plain", [True, False])
def test_class_count_must_agree_with_the_labels(tmp_path, source, plain):
    path = tmp_path / "model.pth"
    if plain:
        torch.save(source.state_dict(), path)
    else:
        save_checkpoint(path, source, labels=None)
    labels = write_labels(tmp_path / "labels.txt", CLASSES[:3])
    with pytest.raises(ModelError, match=r"has 4 classes \(BACKGROUND included\), .*labels.txt lists 3"):
        load_model(str(path), NET, labels)


@pytest.mark.parametrize("field, value, argument", [("resolution", 300, {"resolution": 512}),
                                                     ("net", NET, {"net": "mb1-ssd"}),
                                                     ("width_mult", 1.0, {"width_mult": 0.75})])
def test_arguments_that_contradict_the_checkpoint_are_refused(tmp_path, source, field, value, argument):
    path = save_checkpoint(tmp_path / "checkpoint-best.pth", source)
    with pytest.raises(ModelError, match=f"saved with {field} {value}, not {list(argument.values())[0]}"):
        load_model(path, **argument)


def test_resolution_mismatch_explains_the_trap(tmp_path, source):
    path = save_checkpoint(tmp_path / "checkpoint-best.pth", source)
    with pytest.raises(ModelError, match="another resolution than it was trained at"):
        load_model(path, resolution=640)


def test_a_base_net_file_is_not_a_model(tmp_path, source):
    torch.save(source.base_net.state_dict(), tmp_path / "base.pth")
    with pytest.raises(ModelError, match="no detection heads"):
        load_model(str(tmp_path / "base.pth"), NET, CLASSES)


def test_missing_file_is_a_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="nothing.pth: no such file"):
        load_model(str(tmp_path / "nothing.pth"), NET, CLASSES)


def test_model_labels_are_read_with_background_first(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"BACKGROUND\r\napple\r\ntraffic light \n")
    assert read_model_labels(str(path)) == ["BACKGROUND", "apple", "traffic light"]


@pytest.mark.parametrize("text, message", [
    ("apple\nbanana\n", "looks like a dataset's labels.txt"),
    ("BACKGROUND\napple\n\nbanana\n", "line 3 is blank"),
    ("BACKGROUND\napple\n\n", "line 3 is blank"),
    ("BACKGROUND\nBACKGROUND\napple\n", "BACKGROUND again on line 2"),
    ("BACKGROUND\n", "no classes"),
    ("", "no labels"),
])
def test_wrong_model_labels_are_refused(tmp_path, text, message):
    path = tmp_path / "labels.txt"
    path.write_text(text)
    with pytest.raises(ModelError, match=message):
        read_model_labels(str(path))


def test_a_weights_file_given_as_labels_is_a_model_error(tmp_path, source):
    path = save_checkpoint(tmp_path / "model.pth", source)
    with pytest.raises(ModelError, match="model.pth: not a text file of class names"):
        read_model_labels(str(path))
    with pytest.raises(ModelError, match="model.pth: not a text file of class names"):
        load_model(str(path), labels=str(path))


def test_the_weights_file_is_read_once(tmp_path, source, monkeypatch):
    path = save_checkpoint(tmp_path / "model.pth", source)
    reads = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: reads.append(args[0]) or load(*args, **kwargs))
    net, _ = load_model(str(path))
    assert reads == [str(path)] and same_weights(net, source)
