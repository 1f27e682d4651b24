using System;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// Bad input to a generated Forward: each rule throws an exception that names the parameter, the expected size
/// and the actual one, and nothing is written to the output.
/// </summary>
public sealed class ArgumentValidationTests
{
    // EverythingKernel: Heads 6, KvHeads 3, HeadDim 33, ValueDim 40, key padding and an explicit mask, Bhsd.
    private const int Batch = 2, QueryLength = 5, KeyLength = 7;
    private const int QuerySize = Batch * QueryLength * EverythingKernel.Heads * EverythingKernel.HeadDim;
    private const int KeySize = Batch * KeyLength * EverythingKernel.KvHeads * EverythingKernel.HeadDim;
    private const int ValueSize = Batch * KeyLength * EverythingKernel.KvHeads * EverythingKernel.ValueDim;
    private const int OutputSize = Batch * QueryLength * EverythingKernel.Heads * EverythingKernel.ValueDim;

    private readonly float[] _query = new float[QuerySize];
    private readonly float[] _key = new float[KeySize];
    private readonly float[] _value = new float[ValueSize];
    private readonly float[] _output = new float[OutputSize];
    private readonly int[] _keyLengths = { KeyLength, 3 };
    private readonly float[] _mask = new float[QueryLength * KeyLength];

    public ArgumentValidationTests() => _output.AsSpan().Fill(42f);

    private ExplicitMask Mask() => ExplicitMask.Additive(_mask, QueryLength, KeyLength);

    [Fact]
    public void Valid_arguments_are_accepted()
    {
        EverythingKernel.Forward(_query, _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, ExplicitMask.Additive(_mask, QueryLength, KeyLength));
        Assert.DoesNotContain(42f, _output);
    }

    [Theory]
    [InlineData("query", QuerySize)]
    [InlineData("key", KeySize)]
    [InlineData("value", ValueSize)]
    [InlineData("output", OutputSize)]
    public void A_short_span_names_the_parameter_and_both_sizes(string parameter, int expected)
    {
        float[] query = parameter == "query" ? new float[expected - 1] : _query;
        float[] key = parameter == "key" ? new float[expected - 1] : _key;
        float[] value = parameter == "value" ? new float[expected - 1] : _value;
        float[] output = parameter == "output" ? new float[expected - 1] : _output;
        output.AsSpan().Fill(42f);

        ArgumentException exception = Assert.Throws<ArgumentException>(() =>
            EverythingKernel.Forward(query, key, value, output, Batch, QueryLength, KeyLength, _keyLengths, ExplicitMask.Additive(_mask, QueryLength, KeyLength)));

        Assert.Equal(parameter, exception.ParamName);
        Assert.Contains($"needs {expected} elements", exception.Message);
        Assert.Contains($"has {expected - 1}", exception.Message);
        Assert.All(output, v => Assert.Equal(42f, v));
    }

    [Theory]
    [InlineData("weights", Batch * EverythingKernel.Heads * QueryLength * KeyLength)]
    [InlineData("logSumExp", Batch * EverythingKernel.Heads * QueryLength)]
    public void A_short_weights_or_log_sum_exp_span_names_the_parameter_and_both_sizes(string parameter, int expected)
    {
        var extra = new float[expected - 1];
        extra.AsSpan().Fill(42f);
        ArgumentException exception = parameter == "weights"
            ? Assert.Throws<ArgumentException>(() => EverythingKernel.Forward(_query, _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, Mask(), extra, AttentionWeights.Probabilities))
            : Assert.Throws<ArgumentException>(() => EverythingKernel.Forward(_query, _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, Mask(), extra));

        Assert.Equal(parameter, exception.ParamName);
        Assert.Contains($"needs {expected} elements", exception.Message);
        Assert.Contains($"has {expected - 1}", exception.Message);
        Assert.All(_output, v => Assert.Equal(42f, v));
        Assert.All(extra, v => Assert.Equal(42f, v));
    }

    [Fact]
    public void Weights_that_share_memory_or_an_undefined_kind_are_rejected_before_anything_is_written()
    {
        var weights = new float[Batch * EverythingKernel.Heads * QueryLength * KeyLength];
        weights.AsSpan().Fill(42f);

        ArgumentOutOfRangeException kind = Assert.Throws<ArgumentOutOfRangeException>(() =>
            EverythingKernel.Forward(_query, _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, Mask(), weights, (AttentionWeights)4));
        Assert.Equal("kind", kind.ParamName);

        ArgumentException overlap = Assert.Throws<ArgumentException>(() =>
            EverythingKernel.Forward(_query, _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, Mask(), _output, AttentionWeights.Scores));
        Assert.Equal("weights", overlap.ParamName);

        ArgumentException lse = Assert.Throws<ArgumentException>(() =>
            EverythingKernel.Forward(_query, _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, Mask(), _query.AsSpan(0, Batch * EverythingKernel.Heads * QueryLength)));
        Assert.Equal("logSumExp", lse.ParamName);

        Assert.All(_output, v => Assert.Equal(42f, v));
        Assert.All(weights, v => Assert.Equal(42f, v));
    }

    [Fact]
    public void A_short_span_message_shows_the_shape_in_the_declared_layout()
    {
        // Bhsd: [batch, Heads, queryLength, HeadDim].
        ArgumentException exception = Assert.Throws<ArgumentException>(() =>
            EverythingKernel.Forward(new float[1], _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, ExplicitMask.Additive(_mask, QueryLength, KeyLength)));
        Assert.Contains("[batch, Heads, queryLength, HeadDim] = [2, 6, 5, 33]", exception.Message);

        // Bshd: [batch, keyLength, KvHeads, HeadDim].
        exception = Assert.Throws<ArgumentException>(() => LlamaKernel.Forward(new float[8 * 128], new float[1], new float[2 * 128], new float[8 * 128], 1, 1, 1));
        Assert.Contains("[batch, keyLength, KvHeads, HeadDim] = [1, 1, 2, 128]", exception.Message);
    }

    [Theory]
    [InlineData("batch")]
    [InlineData("queryLength")]
    [InlineData("keyLength")]
    public void A_negative_length_is_out_of_range(string parameter)
    {
        ArgumentOutOfRangeException exception = Assert.Throws<ArgumentOutOfRangeException>(() => EverythingKernel.Forward(
            _query, _key, _value, _output,
            parameter == "batch" ? -1 : Batch, parameter == "queryLength" ? -1 : QueryLength, parameter == "keyLength" ? -1 : KeyLength,
            _keyLengths, ExplicitMask.Additive(_mask, QueryLength, KeyLength)));
        Assert.Equal(parameter, exception.ParamName);
        Assert.All(_output, v => Assert.Equal(42f, v));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(KeyLength + 1)]
    public void A_key_length_outside_the_keys_is_out_of_range(int bad)
    {
        ArgumentOutOfRangeException exception = Assert.Throws<ArgumentOutOfRangeException>(() => EverythingKernel.Forward(
            _query, _key, _value, _output, Batch, QueryLength, KeyLength, new[] { 3, bad }, ExplicitMask.Additive(_mask, QueryLength, KeyLength)));
        Assert.Equal("keyLengths", exception.ParamName);
        Assert.Contains($"keyLengths[1] must be from 0 to keyLength ({KeyLength}), but is {bad}", exception.Message);
        Assert.All(_output, v => Assert.Equal(42f, v));
    }

    [Fact]
    public void Too_few_key_lengths_is_an_argument_exception()
    {
        ArgumentException exception = Assert.Throws<ArgumentException>(() => EverythingKernel.Forward(
            _query, _key, _value, _output, Batch, QueryLength, KeyLength, new[] { 3 }, ExplicitMask.Additive(_mask, QueryLength, KeyLength)));
        Assert.Equal("keyLengths", exception.ParamName);
        Assert.Contains("one entry per batch entry, 2, but has 1", exception.Message);
        Assert.All(_output, v => Assert.Equal(42f, v));
    }

    [Fact]
    public void A_missing_mask_is_an_argument_exception()
    {
        ArgumentException exception = Assert.Throws<ArgumentException>(() => EverythingKernel.Forward(
            _query, _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, default));
        Assert.Equal("mask", exception.ParamName);
        Assert.All(_output, v => Assert.Equal(42f, v));
    }

    [Theory]
    [InlineData(3, 1, QueryLength, KeyLength, "batch axis has 3 entries; it must be 1 (broadcast) or 2")]
    [InlineData(1, 4, QueryLength, KeyLength, "head axis has 4 entries; it must be 1 (broadcast) or 6")]
    [InlineData(1, 1, 2, KeyLength, "query axis has 2 entries; it must be 1 (broadcast) or 5")]
    [InlineData(1, 1, QueryLength, KeyLength + 1, "key axis has 8 entries, more than keyLength (7)")]
    public void A_mask_that_does_not_broadcast_is_an_argument_exception(int batch, int heads, int queries, int keys, string message)
    {
        var values = new float[batch * heads * queries * keys];
        ArgumentException exception = Assert.Throws<ArgumentException>(() => EverythingKernel.Forward(
            _query, _key, _value, _output, Batch, QueryLength, KeyLength, _keyLengths, ExplicitMask.Additive(values, batch, heads, queries, keys)));
        Assert.Equal("mask", exception.ParamName);
        Assert.Contains(message, exception.Message);
        Assert.All(_output, v => Assert.Equal(42f, v));
    }

    [Fact]
    public void A_mask_shorter_than_its_shape_names_its_parameter()
    {
        ArgumentException exception = Assert.Throws<ArgumentException>(() => ExplicitMask.Boolean(new bool[5], 1, 1, 2, 3));
        Assert.Equal("allowed", exception.ParamName);
        Assert.Contains("needs 6 elements, but allowed has 5", exception.Message);

        exception = Assert.Throws<ArgumentException>(() => ExplicitMask.Additive(new float[5], 2, 3));
        Assert.Equal("values", exception.ParamName);
    }

    [Fact]
    public void Longer_spans_are_fine_and_only_their_prefix_is_used()
    {
        float[] output = new float[OutputSize + 10];
        output.AsSpan().Fill(42f);
        EverythingKernel.Forward(
            new float[QuerySize + 3], new float[KeySize + 5], new float[ValueSize + 1], output, Batch, QueryLength, KeyLength,
            new[] { 1, 2, 99 }, ExplicitMask.Additive(new float[_mask.Length + 4], QueryLength, KeyLength));
        Assert.All(output.AsSpan(OutputSize).ToArray(), v => Assert.Equal(42f, v));
        Assert.DoesNotContain(42f, output.AsSpan(0, OutputSize).ToArray());
    }

    [Fact]
    public void The_reference_applies_the_same_rules()
    {
        ArgumentException exception = Assert.Throws<ArgumentException>(() => ReferenceAttention.Forward(
            EverythingKernel.Configuration, _query, _key, new float[3], _output, Batch, QueryLength, KeyLength, _keyLengths, ExplicitMask.Additive(_mask, QueryLength, KeyLength)));
        Assert.Equal("value", exception.ParamName);

        exception = Assert.Throws<ArgumentException>(() => ReferenceAttention.Forward(
            LlamaKernel.Configuration, new float[8 * 128], new float[2 * 128], new float[2 * 128], new float[8 * 128], 1, 1, 1, new[] { 1 }));
        Assert.Equal("keyLengths", exception.ParamName);
    }
}
