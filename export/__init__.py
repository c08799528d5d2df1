"""Export of event encoders: ONNX (ezsr.export.onnx_export, int8 in ezsr.export.quantize),
TensorRT (ezsr.export.tensorrt), and the stream runners of the exported files
(ezsr.export.runners)."""
