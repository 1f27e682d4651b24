using System;
using AttentionGen.CompilerServices;

namespace AttentionGen;

/// <summary>
/// A dense layer, <c>y = x · W + b</c> row by row: the projections of a multi-head attention layer (W_q, W_k, W_v and
/// W_o), and the matrices of the feed-forward network around it. The weights are packed once, when the layer is made,
/// for the widest vector path this process runs; each call then streams the rows through register blocks of fused
/// multiply-adds, on up to <see cref="AttentionRuntime.MaxDegreeOfParallelism"/> threads, and allocates nothing.
/// </summary>
/// <remarks>
/// <para>
/// Several layers with the same inputs can be fused into one (<see cref="Concatenate"/>), as the query, key and value
/// projections of self-attention are: one call then reads each row once for all of them, and writes each part's outputs
/// to its own block of the output, the layout the attention kernels read.
/// </para>
/// <para>
/// A call may compute only some rows (the real tokens of a padded batch): the others are neither read nor written.
/// Each output is a float sum of <see cref="Inputs"/> products in ascending input order per vector lane, plus the bias.
/// </para>
/// </remarks>
public sealed class Linear
{
    private readonly float[] _panels;
    private readonly float[] _bias;
    private readonly int[] _panelPart;
    private readonly int[] _panelColumn;
    private readonly int[] _panelColumns;
    private readonly int[] _partOutputs;
    private readonly int[] _partFirstOutput;
    private readonly int[] _partFirstPanel;

    /// <summary>Packs <c>y = x · W + b</c>.</summary>
    /// <param name="weight">W as [inputs, outputs], row-major: the layout of <c>x · W</c> (an ONNX MatMul initializer; PyTorch's nn.Linear stores its transpose).</param>
    /// <param name="inputs">The size of an input row.</param>
    /// <param name="outputs">The size of an output row.</param>
    /// <param name="bias">b, <paramref name="outputs"/> long; empty for none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="inputs"/> or <paramref name="outputs"/> is less than 1.</exception>
    /// <exception cref="ArgumentException"><paramref name="weight"/> or <paramref name="bias"/> has the wrong length.</exception>
    public Linear(ReadOnlySpan<float> weight, int inputs, int outputs, ReadOnlySpan<float> bias = default)
        : this(weight, nameof(weight), bias, nameof(bias), inputs, outputs)
    {
    }

    /// <summary>The public constructor, with the names its messages give the weight and the bias (a layer's <c>queryWeight</c>, say).</summary>
    internal Linear(ReadOnlySpan<float> weight, string weightName, ReadOnlySpan<float> bias, string biasName, int inputs, int outputs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        long expected = (long)inputs * outputs;
        if (weight.Length != expected)
        {
            throw new ArgumentException(Format("{0} must be [inputs, outputs] = [{1}, {2}], {3} elements, but has {4}.", weightName, inputs, outputs, expected, weight.Length), weightName);
        }

        if (!bias.IsEmpty && bias.Length != outputs)
        {
            throw new ArgumentException(Format("{0} must be empty or have outputs = {1} elements, but has {2}.", biasName, outputs, bias.Length), biasName);
        }

        Inputs = inputs;
        Outputs = outputs;
        int panels = (outputs + PanelWidth - 1) / PanelWidth;
        _partOutputs = [outputs];
        _partFirstOutput = [0];
        _partFirstPanel = [0, panels];
        _panelPart = new int[panels];
        _panelColumn = new int[panels];
        _panelColumns = new int[panels];
        _panels = new float[checked(panels * inputs * PanelWidth)];
        _bias = new float[panels * PanelWidth];
        for (int p = 0; p < panels; p++)
        {
            int column = p * PanelWidth, width = Math.Min(PanelWidth, outputs - column);
            _panelColumn[p] = column;
            _panelColumns[p] = width;
            for (int i = 0; i < inputs; i++)
            {
                weight.Slice(i * outputs + column, width).CopyTo(_panels.AsSpan((p * inputs + i) * PanelWidth, width));
            }

            if (!bias.IsEmpty)
            {
                bias.Slice(column, width).CopyTo(_bias.AsSpan(p * PanelWidth, width));
            }
        }
    }

    private Linear(Linear[] parts)
    {
        Inputs = parts[0].Inputs;
        int panels = 0;
        foreach (Linear part in parts)
        {
            panels += part.Panels;
            Outputs = checked(Outputs + part.Outputs);
        }

        _partOutputs = new int[parts.Length];
        _partFirstOutput = new int[parts.Length];
        _partFirstPanel = new int[parts.Length + 1];
        _panelPart = new int[panels];
        _panelColumn = new int[panels];
        _panelColumns = new int[panels];
        _panels = new float[checked(panels * Inputs * PanelWidth)];
        _bias = new float[panels * PanelWidth];
        int panel = 0, first = 0;
        for (int index = 0; index < parts.Length; index++)
        {
            Linear part = parts[index];
            _partOutputs[index] = part.Outputs;
            _partFirstOutput[index] = first;
            _partFirstPanel[index] = panel;
            first += part.Outputs;
            part._panels.CopyTo(_panels, panel * Inputs * PanelWidth);
            part._bias.CopyTo(_bias, panel * PanelWidth);
            for (int p = 0; p < part.Panels; p++, panel++)
            {
                _panelPart[panel] = index;
                _panelColumn[panel] = part._panelColumn[p];
                _panelColumns[panel] = part._panelColumns[p];
            }
        }

        _partFirstPanel[parts.Length] = panels;
    }

    /// <summary>
    /// Fuses layers that read the same input into one, whose call computes all of them in one pass over the rows. Its
    /// output is each part's [rows, part.Outputs] block, one after another: for the query, key and value projections,
    /// Q, then K, then V, each [rows, its size].
    /// </summary>
    /// <param name="parts">The layers, with the same <see cref="Inputs"/>; single layers, not fused ones.</param>
    /// <exception cref="ArgumentException"><paramref name="parts"/> is empty, or the layers' inputs differ, or one is fused.</exception>
    public static Linear Concatenate(params ReadOnlySpan<Linear> parts)
    {
        if (parts.IsEmpty)
        {
            throw new ArgumentException("Concatenate needs at least one layer.", nameof(parts));
        }

        for (int i = 0; i < parts.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(parts[i], nameof(parts));
            if (parts[i].Parts != 1)
            {
                throw new ArgumentException(Format("parts[{0}] is itself a concatenation; pass its layers instead.", i), nameof(parts));
            }

            if (parts[i].Inputs != parts[0].Inputs)
            {
                throw new ArgumentException(Format("parts[{0}] has {1} inputs but parts[0] has {2}; concatenated layers read the same input rows.", i, parts[i].Inputs, parts[0].Inputs), nameof(parts));
            }
        }

        return new Linear(parts.ToArray());
    }

    /// <summary>The size of an input row.</summary>
    public int Inputs { get; }

    /// <summary>The size of an output row; for a concatenation, the sum of its parts'.</summary>
    public int Outputs { get; }

    /// <summary>How many layers this one computes: 1, or the number concatenated.</summary>
    public int Parts => _partOutputs.Length;

    /// <summary>The outputs of part <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not a part.</exception>
    public int PartOutputs(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Parts);
        return _partOutputs[index];
    }

    /// <summary>
    /// Computes <c>output = input · W + b</c> for rows <c>[0, rows)</c>, or only for those in
    /// <paramref name="onlyRows"/>: the rest of the output is left as it is.
    /// </summary>
    /// <param name="input">The input rows, [rows, Inputs].</param>
    /// <param name="output">The output rows, [rows, Outputs]; for a concatenation each part's [rows, its outputs], one after another.</param>
    /// <param name="rows">The rows of <paramref name="input"/> and <paramref name="output"/>.</param>
    /// <param name="onlyRows">Empty to compute every row; else the rows to compute, ascending, each in <c>[0, rows)</c>.</param>
    /// <exception cref="ArgumentException">A span has the wrong length, <paramref name="output"/> overlaps <paramref name="input"/>, or <paramref name="onlyRows"/> is not ascending in range.</exception>
    public void Apply(ReadOnlySpan<float> input, Span<float> output, int rows, ReadOnlySpan<int> onlyRows = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        CheckLength(input.Length, (long)rows * Inputs, nameof(input), "[rows, Inputs]", rows, Inputs);
        CheckLength(output.Length, (long)rows * Outputs, nameof(output), "[rows, Outputs]", rows, Outputs);
        if (output.Overlaps(input))
        {
            throw new ArgumentException("output overlaps input: the layer reads its input rows while it writes outputs. Use a separate output buffer.", nameof(output));
        }

        for (int i = 0; i < onlyRows.Length; i++)
        {
            int row = onlyRows[i];
            if ((uint)row >= (uint)rows || (i > 0 && row <= onlyRows[i - 1]))
            {
                throw new ArgumentException(
                    Format("onlyRows[{0}] = {1}: the rows to compute must ascend strictly and lie in [0, rows = {2}).", i, row, rows), nameof(onlyRows));
            }
        }

        Gemm.Run(this, input, output, rows, onlyRows);
    }

    /// <summary>
    /// Computes part <paramref name="part"/> of a concatenation alone, <c>output = input · W_part + b_part</c>: what a
    /// cross-attention layer does with the key or value part of its fused projections.
    /// </summary>
    internal void ApplyPart(int part, ReadOnlySpan<float> input, Span<float> output, int rows, ReadOnlySpan<int> onlyRows)
    {
        System.Diagnostics.Debug.Assert(input.Length == (long)rows * Inputs && output.Length == (long)rows * _partOutputs[part]);
        Gemm.Run(this, input, output, rows, onlyRows, part);
    }

    internal int Panels => _panelPart.Length;

    /// <summary>The panels of part <paramref name="part"/>, which are consecutive.</summary>
    internal (int First, int End) PartPanels(int part) => (_partFirstPanel[part], _partFirstPanel[part + 1]);

    /// <summary>The first output column of <paramref name="panel"/> within its part.</summary>
    internal int PanelColumnOffset(int panel) => _panelColumn[panel];

    /// <summary>Columns per packed panel: two vectors of the widest accelerated width.</summary>
    internal static int PanelWidth => Gemm.PanelWidth;

    internal ref float PanelWeights(int panel) => ref _panels[panel * Inputs * PanelWidth];

    internal ref float PanelBias(int panel) => ref _bias[panel * PanelWidth];

    /// <summary>The columns of <paramref name="panel"/> that exist (the last panel of a part may be partly padding).</summary>
    internal int PanelColumns(int panel) => _panelColumns[panel];

    /// <summary>Floats from one output row of <paramref name="panel"/>'s part to the next.</summary>
    internal int PartStride(int panel) => _partOutputs[_panelPart[panel]];

    /// <summary>Where row 0 of <paramref name="panel"/>'s first column lies in an output of <paramref name="rows"/> rows.</summary>
    internal nint PartOffset(int panel, int rows) => (nint)_partFirstOutput[_panelPart[panel]] * rows + _panelColumn[panel];

    private static void CheckLength(int actual, long expected, string parameter, string shape, int rows, int size)
    {
        if (actual != expected)
        {
            throw new ArgumentException(
                Format("{0} must be {1} = [{2}, {3}], {4} elements, but has {5}.", parameter, shape, rows, size, expected, actual), parameter);
        }
    }

    private static string Format(string format, params object[] args) => AttentionValidation.Format(format, args);
}
