using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Benchmarks;

/// <summary>An input or output of a one-node graph: its name, ONNX element type and shape.</summary>
public sealed record OnnxTensor(string Name, int ElementType, params long[] Shape)
{
    public const int Float = 1, Int32 = 6, Bool = 9, Float16 = 10;
}

/// <summary>An integer or float attribute of a node.</summary>
public sealed record OnnxAttribute(string Name, long? Int = null, float? Float = null);

/// <summary>
/// Writes an ONNX model of one node, so that a benchmark can run one ONNX Runtime operator on the shapes it measures:
/// only the fields of ModelProto, GraphProto, NodeProto, AttributeProto and ValueInfoProto that a one-node graph
/// needs, in protobuf's wire format (onnx/onnx.proto gives the field numbers).
/// </summary>
public static class OnnxGraph
{
    /// <param name="opType">The operator, "Attention" say.</param>
    /// <param name="domain">"" for ai.onnx, "com.microsoft" for ONNX Runtime's contrib operators.</param>
    /// <param name="opset">The ai.onnx opset the model imports (com.microsoft is imported at version 1).</param>
    /// <param name="inputs">The node's inputs in order; null for an optional input left out.</param>
    /// <param name="outputs">The node's outputs in order; null for an optional output left out.</param>
    /// <param name="attributes">The node's attributes.</param>
    public static byte[] OneNode(
        string opType, string domain, int opset, IReadOnlyList<OnnxTensor?> inputs, IReadOnlyList<OnnxTensor?> outputs,
        params OnnxAttribute[] attributes)
    {
        var model = new ProtoWriter();
        model.Varint(1, 10); // ir_version: 10, the first with opset 23
        model.String(2, "Attention.Gen benchmarks"); // producer_name
        model.Message(7, graph =>
        {
            graph.Message(1, node =>
            {
                foreach (OnnxTensor? input in inputs)
                {
                    node.String(1, input?.Name ?? "");
                }

                foreach (OnnxTensor? output in outputs)
                {
                    node.String(2, output?.Name ?? "");
                }

                node.String(3, opType);
                node.String(4, opType);
                foreach (OnnxAttribute attribute in attributes)
                {
                    node.Message(5, a =>
                    {
                        a.String(1, attribute.Name);
                        if (attribute.Float is { } f)
                        {
                            a.Fixed32(2, BitConverter.SingleToInt32Bits(f));
                            a.Varint(20, 1); // AttributeType.FLOAT
                        }
                        else
                        {
                            a.Varint(3, attribute.Int ?? throw new ArgumentException($"Attribute {attribute.Name} has no value."));
                            a.Varint(20, 2); // AttributeType.INT
                        }
                    });
                }

                node.String(7, domain);
            });
            graph.String(2, opType);
            foreach (OnnxTensor? input in inputs)
            {
                if (input is not null)
                {
                    graph.Message(11, value => ValueInfo(value, input));
                }
            }

            foreach (OnnxTensor? output in outputs)
            {
                if (output is not null)
                {
                    graph.Message(12, value => ValueInfo(value, output));
                }
            }
        });
        model.Message(8, import => import.Varint(2, opset)); // opset_import: ai.onnx
        if (domain.Length > 0)
        {
            model.Message(8, import =>
            {
                import.String(1, domain);
                import.Varint(2, 1);
            });
        }

        return model.ToArray();
    }

    /// <summary>ValueInfoProto { name = 1; type = 2: TypeProto { tensor_type = 1: { elem_type = 1; shape = 2 } } }.</summary>
    private static void ValueInfo(ProtoWriter value, OnnxTensor tensor)
    {
        value.String(1, tensor.Name);
        value.Message(2, type => type.Message(1, tensorType =>
        {
            tensorType.Varint(1, tensor.ElementType);
            tensorType.Message(2, shape =>
            {
                foreach (long dim in tensor.Shape)
                {
                    shape.Message(1, d => d.Varint(1, dim)); // TensorShapeProto.Dimension { dim_value = 1 }
                }
            });
        }));
    }

    /// <summary>Protobuf's wire format: varints (wire type 0), length-delimited fields (2), fixed32 (5).</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _stream = new();

        public void Varint(int field, long value)
        {
            Key(field, 0);
            WriteVarint((ulong)value);
        }

        public void Fixed32(int field, int value)
        {
            Key(field, 5);
            Span<byte> bytes = stackalloc byte[4];
            BitConverter.TryWriteBytes(bytes, value);
            _stream.Write(bytes);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, Action<ProtoWriter> write)
        {
            var message = new ProtoWriter();
            write(message);
            Bytes(field, message.ToArray());
        }

        public byte[] ToArray() => _stream.ToArray();

        private void Bytes(int field, byte[] bytes)
        {
            Key(field, 2);
            WriteVarint((ulong)bytes.Length);
            _stream.Write(bytes);
        }

        private void Key(int field, int wire) => WriteVarint((ulong)((field << 3) | wire));

        private void WriteVarint(ulong value)
        {
            for (; value >= 0x80; value >>= 7)
            {
                _stream.WriteByte((byte)(value | 0x80));
            }

            _stream.WriteByte((byte)value);
        }
    }
}
