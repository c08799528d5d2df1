"""Export of event encoders: ONNX (ezsr.export.onnx_export), TensorRT (ezsr.export.tensorrt)."""
