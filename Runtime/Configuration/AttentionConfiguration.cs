using System;
using System.Collections.Generic;

namespace AttentionGen;

/// <summary>
/// An attention configuration as a value: the same properties as <see cref="AttentionAttribute"/>, with the
/// defaults resolved. Every generated type exposes its own as <c>Configuration</c>, and
/// <see cref="ReferenceAttention"/> takes one.
/// </summary>
public sealed record AttentionConfiguration
{
    private readonly int _kvHeads;
    private readonly int _valueDim;
    private readonly float _scale;

    /// <summary>Number of query heads.</summary>
    public required int Heads { get; init; }

    /// <summary>Number of key/value heads; 0 when set means <see cref="Heads"/>, and reading it never returns 0.</summary>
    public int KvHeads { get => _kvHeads == 0 ? Heads : _kvHeads; init => _kvHeads = value; }

    /// <summary>Size of a query/key head.</summary>
    public required int HeadDim { get; init; }

    /// <summary>Size of a value/output head; 0 when set means <see cref="HeadDim"/>, and reading it never returns 0.</summary>
    public int ValueDim { get => _valueDim == 0 ? HeadDim : _valueDim; init => _valueDim = value; }

    /// <inheritdoc cref="AttentionAttribute.Mask"/>
    public AttentionMask Mask { get; init; }

    /// <inheritdoc cref="AttentionAttribute.Alignment"/>
    public MaskAlignment Alignment { get; init; }

    /// <inheritdoc cref="AttentionAttribute.WindowLeft"/>
    public int WindowLeft { get; init; }

    /// <inheritdoc cref="AttentionAttribute.WindowRight"/>
    public int WindowRight { get; init; }

    /// <summary>Factor applied to <c>q · k</c>; 0 when set means <c>1 / sqrt(HeadDim)</c>, and reading it returns the factor in use.</summary>
    public float Scale { get => _scale == 0 ? ConfigurationRules.DefaultScale(HeadDim) : _scale; init => _scale = value; }

    /// <inheritdoc cref="AttentionAttribute.Softcap"/>
    public float Softcap { get; init; }

    /// <inheritdoc cref="AttentionAttribute.Layout"/>
    public AttentionLayout Layout { get; init; }

    /// <summary>How many query heads share one key/value head.</summary>
    public int GroupSize => Heads / KvHeads;

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> that lists every rule the configuration breaks: the same rules the
    /// generator reports as <c>ATTN</c> diagnostics at build time.
    /// </summary>
    public void Validate()
    {
        List<ConfigurationIssue> issues = ConfigurationRules.Check(
            Heads, _kvHeads, HeadDim, _valueDim, Mask, Alignment, WindowLeft, WindowRight, _scale, Softcap, Layout);
        if (issues.Count > 0)
        {
            var messages = new string[issues.Count];
            for (int i = 0; i < issues.Count; i++)
            {
                messages[i] = issues[i].Message + ".";
            }

            throw new ArgumentException("The attention configuration is not valid: " + string.Join(" ", messages), issues[0].Property);
        }
    }
}
