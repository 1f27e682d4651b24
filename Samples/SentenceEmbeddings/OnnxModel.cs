using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;

namespace SentenceEmbeddings;

/// <summary>
/// The parts of an ONNX model this sample needs, read straight from its protobuf encoding: the graph's float
/// initializers by name, its nodes (operator, inputs, outputs) and the values of its Constant nodes. About as much of
/// onnx.proto as a weight loader needs; a full ONNX implementation is ONNX Runtime's job.
/// </summary>
public sealed class OnnxModel
{
    private readonly Dictionary<string, float[]> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int[]> _shapes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float[]> _constants = new(StringComparer.Ordinal);

    private OnnxModel(byte[] model)
    {
        // ModelProto.graph = 7; GraphProto.node = 1, GraphProto.initializer = 5.
        var reader = new ProtoReader(model, 0, model.Length);
        while (reader.Next(out int field, out int wire))
        {
            if (field == 7 && wire == 2)
            {
                ReadGraph(reader.Message());
            }
            else
            {
                reader.Skip(wire);
            }
        }
    }

    /// <summary>The graph's nodes, in order.</summary>
    public List<OnnxNode> Nodes { get; } = new();

    public static OnnxModel Load(byte[] model) => new(model);

    /// <summary>A float initializer, row-major.</summary>
    public float[] Initializer(string name) =>
        _initializers.TryGetValue(name, out float[]? values) ? values : throw new InvalidDataException($"The model has no float initializer '{name}'.");

    /// <summary>An initializer's dims.</summary>
    public int[] Shape(string name) => _shapes[name];

    /// <summary>
    /// The weight of the MatMul whose result the Add with <paramref name="bias"/> adds it to: how a PyTorch export of
    /// <c>nn.Linear</c> looks, the weight a numbered initializer of shape [in, out] and the bias a named one.
    /// </summary>
    public float[] LinearWeight(string bias, out int inputs, out int outputs)
    {
        OnnxNode add = Nodes.Single(node => node.Operator == "Add" && node.Inputs.Contains(bias));
        string product = add.Inputs.Single(input => input != bias);
        OnnxNode matMul = Nodes.Single(node => node.Operator == "MatMul" && node.Outputs.Contains(product));
        string weight = matMul.Inputs.Single(_initializers.ContainsKey);
        int[] shape = _shapes[weight];
        (inputs, outputs) = (shape[0], shape[1]);
        return _initializers[weight];
    }

    /// <summary>
    /// The epsilon of the LayerNorms, from the graph: each is exported as (x − mean) / Sqrt(ReduceMean(d²) + ε), and ε is
    /// the Constant the Add before the Sqrt adds. Every LayerNorm of a BERT export uses the same.
    /// </summary>
    public float LayerNormEpsilon()
    {
        var epsilons = new HashSet<float>();
        foreach (OnnxNode sqrt in Nodes.Where(node => node.Operator == "Sqrt"))
        {
            OnnxNode add = Nodes.Single(node => node.Operator == "Add" && node.Outputs.Contains(sqrt.Inputs[0]));
            epsilons.Add(add.Inputs.Select(input => _constants.TryGetValue(input, out float[]? c) ? c : null).Single(c => c is not null)![0]);
        }

        return epsilons.Count == 1 ? epsilons.Single() : throw new InvalidDataException($"The LayerNorms use {epsilons.Count} different epsilons.");
    }

    private void ReadGraph(ProtoReader graph)
    {
        while (graph.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 2): ReadNode(graph.Message()); break;
                case (5, 2): ReadTensor(graph.Message(), _initializers, _shapes); break;
                default: graph.Skip(wire); break;
            }
        }
    }

    private void ReadNode(ProtoReader node)
    {
        // NodeProto: input = 1, output = 2, op_type = 4, attribute = 5 (AttributeProto: name = 1, t = 5).
        var inputs = new List<string>();
        var outputs = new List<string>();
        string op = string.Empty;
        ProtoReader? value = null;
        while (node.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 2): inputs.Add(node.String()); break;
                case (2, 2): outputs.Add(node.String()); break;
                case (4, 2): op = node.String(); break;
                case (5, 2): value = AttributeTensor(node.Message()) ?? value; break;
                default: node.Skip(wire); break;
            }
        }

        Nodes.Add(new OnnxNode(op, inputs, outputs));
        if (op == "Constant" && value is { } tensor && outputs.Count == 1)
        {
            var values = new Dictionary<string, float[]>();
            ReadTensor(tensor, values, new Dictionary<string, int[]>());
            if (values.Count == 1)
            {
                _constants[outputs[0]] = values.Values.Single();
            }
        }
    }

    private static ProtoReader? AttributeTensor(ProtoReader attribute)
    {
        ProtoReader? tensor = null;
        while (attribute.Next(out int field, out int wire))
        {
            if (field == 5 && wire == 2)
            {
                tensor = attribute.Message();
            }
            else
            {
                attribute.Skip(wire);
            }
        }

        return tensor;
    }

    /// <summary>TensorProto: dims = 1, data_type = 2 (1 is float), float_data = 4, name = 8, raw_data = 9 (little-endian).</summary>
    private static void ReadTensor(ProtoReader tensor, Dictionary<string, float[]> values, Dictionary<string, int[]> shapes)
    {
        var dims = new List<int>();
        int dataType = 0;
        string name = string.Empty;
        byte[]? raw = null;
        var floats = new List<float>();
        while (tensor.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 0): dims.Add(checked((int)tensor.Varint())); break;
                case (1, 2):
                    ProtoReader packed = tensor.Message();
                    while (!packed.AtEnd)
                    {
                        dims.Add(checked((int)packed.Varint()));
                    }

                    break;
                case (2, 0): dataType = (int)tensor.Varint(); break;
                case (4, 2): floats.AddRange(MemoryMarshal.Cast<byte, float>(tensor.Bytes())); break;
                case (4, 5): floats.Add(BitConverter.Int32BitsToSingle(tensor.Fixed32())); break;
                case (8, 2): name = tensor.String(); break;
                case (9, 2): raw = tensor.Bytes().ToArray(); break;
                default: tensor.Skip(wire); break;
            }
        }

        if (dataType != 1)
        {
            return; // only float tensors are weights here (position_ids is int64, and not needed: positions are 0, 1, 2, ...)
        }

        float[] data = raw is not null ? MemoryMarshal.Cast<byte, float>(raw).ToArray() : floats.ToArray();
        long expected = dims.Aggregate(1L, (product, dim) => product * dim);
        if (data.Length != expected)
        {
            throw new InvalidDataException($"Tensor '{name}' has {data.Length} floats for a shape of {expected}.");
        }

        values[name] = data;
        shapes[name] = dims.ToArray();
    }

    /// <summary>A minimal protobuf reader over a byte range: varints, length-delimited fields, fixed32.</summary>
    private sealed class ProtoReader
    {
        private readonly byte[] _data;
        private readonly int _end;
        private int _position;

        public ProtoReader(byte[] data, int start, int end)
        {
            _data = data;
            _position = start;
            _end = end;
        }

        public bool AtEnd => _position >= _end;

        public bool Next(out int field, out int wire)
        {
            if (AtEnd)
            {
                (field, wire) = (0, 0);
                return false;
            }

            ulong key = Varint();
            (field, wire) = ((int)(key >> 3), (int)(key & 7));
            return true;
        }

        public ulong Varint()
        {
            ulong result = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = _data[_position++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return result;
                }
            }
        }

        public int Fixed32()
        {
            int value = BitConverter.ToInt32(_data, _position);
            _position += 4;
            return value;
        }

        public ReadOnlySpan<byte> Bytes()
        {
            int length = checked((int)Varint());
            var bytes = new ReadOnlySpan<byte>(_data, _position, length);
            _position += length;
            return bytes;
        }

        public string String() => Encoding.UTF8.GetString(Bytes());

        public ProtoReader Message()
        {
            int length = checked((int)Varint());
            var message = new ProtoReader(_data, _position, _position + length);
            _position += length;
            return message;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _position += 8; break;
                case 2:
                    int length = checked((int)Varint()); // not "_position += Varint()", which adds to the position before the varint
                    _position += length;
                    break;
                case 5: _position += 4; break;
                default: throw new InvalidDataException($"Unsupported protobuf wire type {wire}.");
            }
        }
    }
}

/// <summary>One node of an ONNX graph: its operator and the names of its inputs and outputs.</summary>
public sealed record OnnxNode(string Operator, List<string> Inputs, List<string> Outputs);
