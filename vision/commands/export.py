"""Export a trained SSD to ONNX for jetson-inference's detectNet, check it, print the detectnet command.

    python3 onnx_export.py --model-dir=models/fruit      # writes models/fruit/ssd-mobilenet.onnx
"""
import logging
import os
import sys

from vision.cli import OneLineParser, fail, run_main
from vision.export.contract import (DEFAULT_OPSET, LABELS_NAME, ONNX_NAME, TORCHVISION, ExportError,
                                    check_opset, detectnet_command, find_best_checkpoint, stale_engines)

PROG = "onnx_export.py"


def parse_args(argv):
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", "--model_dir", dest="model_dir",
                        help="training output dir: exports checkpoint-best.pth, else the lowest-loss "
                             "<net>-Epoch-<N>-Loss-<loss>.pth, with its labels.txt, to ssd-mobilenet.onnx")
    parser.add_argument("--input", help="checkpoint or plain state_dict (default: picked in --model-dir), or "
                                        "'torchvision': torchvision's COCO weights of --net ssdlite320-mb3-large "
                                        "or ssd300-vgg16 (its labels.txt is written next to the .onnx)")
    parser.add_argument("--net", help="net type; read from our checkpoints, needed for plain state_dicts "
                                      "(default there: mb1-ssd)")
    parser.add_argument("--labels", help="the model's labels.txt, BACKGROUND first (default: the model "
                                         "dir's)")
    parser.add_argument("--resolution", type=int, help="input size; read from our checkpoints (default the "
                                                       "net's: 320 for ssdlite320-mb3-large, else 300)")
    parser.add_argument("--width-mult", "--width_mult", "--mb2-width-mult", dest="width_mult", type=float,
                        help="mb2-ssd-lite width of a plain state_dict (default 1.0)")
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=1,
                        help="static batch size of the graph; detectNet reads item 0 (default 1)")
    parser.add_argument("--output", help=f"the .onnx to write (default: {ONNX_NAME} in the model dir)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset, 11 to 17 (default {DEFAULT_OPSET}: TensorRT 7.1 on parses it)")
    parser.add_argument("--input-normalization", dest="input_normalization", choices=("net", "detectnet"),
                        default="net", help="input_0 takes the net's own normalization (net, default) or "
                                            "detectNet's (px/255-0.5)/0.5, converted in the graph (detectnet: "
                                            "for nets trained on another, such as the VGG nets)")
    parser.add_argument("--test-image", "--test_image", dest="test_image",
                        help="image to compare onnxruntime with PyTorch on (default: a generated one)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(format=f"{PROG}: warning: %(message)s", level=logging.WARNING)
    return run_main(PROG, lambda: _export(args))


def _export(args) -> int:
    checkpoint, labels, output = _paths(args)
    # Imported only now: torch takes seconds to load, and the checks above should answer at once.
    from vision.export.onnx_export import (VerificationError, export_verified, preprocessing_warning,
                                           read_image, synthetic_image)
    from vision.ssd.loading import load_model, write_model_labels
    image = read_image(args.test_image) if args.test_image else synthetic_image()
    net, names = load_model(checkpoint, args.net, labels if os.path.isfile(labels) else None,
                            args.resolution, args.width_mult)
    if not os.path.isfile(labels):  # torchvision's COCO model: its labels become the model's
        write_model_labels(labels, names)
    warning = preprocessing_warning(net, args.input_normalization)
    if warning:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    print(f"exporting {checkpoint}: {net.net_name}, {len(names)} classes with BACKGROUND, "
          f"{net.resolution}x{net.resolution}, batch {args.batch_size}, opset {args.opset}")
    try:
        differences = export_verified(net, output, image, args.batch_size, args.opset, args.input_normalization)
    except VerificationError as error:  # the work failed, not the input: exit code 1, with the figures
        _print_differences(error.differences, args.test_image)
        return fail(PROG, error, code=1)
    _print_differences(differences, args.test_image)
    _print_next_steps(output, labels)
    return 0


def _paths(args) -> tuple[str, str, str]:
    """The checkpoint, labels and output of this export; options and paths are checked here, before
    anything is loaded."""
    check_opset(args.opset)
    if args.batch_size < 1:
        raise ExportError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not args.model_dir and not args.input:
        raise ExportError("pass --model-dir (the training output dir) or --input (a checkpoint)")
    torchvision = args.input == TORCHVISION
    if torchvision and not (args.net and (args.output or args.model_dir)):
        raise ExportError("--input torchvision needs --net (ssdlite320-mb3-large or ssd300-vgg16) and --output "
                          "or --model-dir (where the .onnx and its labels.txt go)")
    checkpoint = args.input or find_best_checkpoint(args.model_dir)
    model_dir = args.model_dir or os.path.dirname(args.output if torchvision else checkpoint)
    labels = args.labels or os.path.join(model_dir, LABELS_NAME)
    output = args.output or os.path.join(model_dir, ONNX_NAME)
    for path, missing in ((None if torchvision else checkpoint, "no such checkpoint"),
                          (None if torchvision else labels,
                           "no such labels file; pass the model's labels.txt with --labels"),
                          (args.test_image, "no such test image")):
        if path and not os.path.isfile(path):
            raise ExportError(f"{path}: {missing}")
    if not os.path.isdir(os.path.dirname(output) or "."):
        raise ExportError(f"{output}: its directory does not exist")
    return checkpoint, labels, output


def _print_differences(differences: dict, test_image: str | None) -> None:
    print(f"onnxruntime vs PyTorch on {test_image or 'a generated image'}:")
    for name, difference in differences.items():
        print(f"  {name}: max |difference| {difference.max_abs:.3g} "
              f"({difference.worst:.3g} of the tolerance){'' if difference.ok else '  FAILED'}")


def _print_next_steps(output: str, labels: str) -> None:
    print(f"wrote {output}\nrun it on the Jetson with:\n{detectnet_command(output, labels)}")
    stale = stale_engines(output)
    if stale:
        print(f"stale TensorRT engines of an earlier export, which detectNet would reuse: delete "
              f"{' '.join(stale)}")


if __name__ == "__main__":
    sys.exit(main())
