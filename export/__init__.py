"""Export of event encoders: ONNX (export.onnx_export), TensorRT (export.tensorrt)."""
