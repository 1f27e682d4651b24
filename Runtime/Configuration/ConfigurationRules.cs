using System;
using System.Collections.Generic;

namespace AttentionGen;

/// <summary>The ways an attention configuration can be invalid. Shared by the generator (as diagnostics) and the runtime (as exceptions).</summary>
internal enum ConfigurationProblem
{
    HeadsNotPositive,
    KvHeadsInvalid,
    HeadDimOutOfRange,
    ValueDimOutOfRange,
    AlignmentRequired,
    AlignmentWithoutPositionalMask,
    WindowWithoutSlidingWindow,
    WindowNegative,
    ScaleInvalid,
    SoftcapInvalid,
    UnknownEnumValue,
    ScaleTooLarge,
}

/// <summary>One problem found in a configuration: what it is, which property it concerns, and the message arguments.</summary>
internal readonly struct ConfigurationIssue
{
    public ConfigurationIssue(ConfigurationProblem problem, string property, params string[] arguments)
    {
        Problem = problem;
        Property = property;
        Arguments = arguments;
    }

    public ConfigurationProblem Problem { get; }

    /// <summary>The <see cref="AttentionAttribute"/> property the problem is about.</summary>
    public string Property { get; }

    /// <summary>Arguments for <see cref="ConfigurationRules.MessageFormat"/>, already formatted with the invariant culture.</summary>
    public string[] Arguments { get; }

    public string Message => string.Format(System.Globalization.CultureInfo.InvariantCulture, ConfigurationRules.MessageFormat(Problem), Arguments);
}

/// <summary>
/// The rules a kernel declaration must satisfy. This file is compiled into both the runtime and the generator,
/// so a build-time diagnostic and a run-time exception can never disagree.
/// </summary>
internal static class ConfigurationRules
{
    /// <summary>The largest supported <c>HeadDim</c> and <c>ValueDim</c>.</summary>
    public const int MaxDim = 512;

    /// <summary>
    /// The most query heads: far above any model's (128 at most today), and small enough that every stride and offset
    /// the generated code computes from its constants (at most Heads · MaxDim · 64 rows) fits in an <see cref="int"/>.
    /// </summary>
    public const int MaxHeads = 4096;

    /// <summary>
    /// The largest input magnitude for which a kernel's scores must stay finite: half precision's largest value. A
    /// score is Scale times a float sum of HeadDim products, which overflows to infinity (and then to NaN in the
    /// softmax) where the double-precision reference stays finite.
    /// </summary>
    public const float MaxInput = 65504f;

    /// <summary>The smallest soft cap: the smallest normal float, so that 2 / Softcap, which the kernels use, is finite.</summary>
    public const float MinSoftcap = 1.17549435E-38f;

    /// <summary>The largest soft cap: half of float's largest value, so that 2 · Softcap, which the kernels use, is finite.</summary>
    public const float MaxSoftcap = float.MaxValue / 2;

    /// <summary>The message for each problem; <c>{0}</c>, <c>{1}</c>… are the issue's arguments.</summary>
    public static string MessageFormat(ConfigurationProblem problem) => problem switch
    {
        ConfigurationProblem.HeadsNotPositive => "Heads is {0}; set Heads to the number of query heads, from 1 to 4096",
        ConfigurationProblem.KvHeadsInvalid => "KvHeads is {0}, which does not divide Heads = {1}; use a divisor of Heads (1 for multi-query, Heads or 0 for multi-head attention)",
        ConfigurationProblem.HeadDimOutOfRange => "HeadDim is {0}; set it to the size of a query/key head, from 1 to 512",
        ConfigurationProblem.ValueDimOutOfRange => "ValueDim is {0}; set it to the size of a value head from 1 to 512, or 0 to use HeadDim",
        ConfigurationProblem.AlignmentRequired => "Mask {0} needs an Alignment: set Alignment = MaskAlignment.TopLeft (PyTorch SDPA, ONNX without a cache) or MaskAlignment.BottomRight (FlashAttention, KV-cache decoding); they differ whenever queryLength != keyLength",
        ConfigurationProblem.AlignmentWithoutPositionalMask => "Alignment is {0} but the mask has neither Causal nor SlidingWindow, which are the only masks that use it; remove Alignment or add the mask you meant",
        ConfigurationProblem.WindowWithoutSlidingWindow => "{0} is set but Mask does not include SlidingWindow, so it would have no effect; add AttentionMask.SlidingWindow or remove {0}",
        ConfigurationProblem.WindowNegative => "{0} is {1}; a window size counts keys and must be 0 or more",
        ConfigurationProblem.ScaleInvalid => "Scale is {0}; use a finite positive factor, or 0 for 1/sqrt(HeadDim)",
        ConfigurationProblem.SoftcapInvalid => "Softcap is {0}; use a cap from 1.1754944E-38 to 1.7014117E+38, or 0 to turn soft-capping off",
        ConfigurationProblem.UnknownEnumValue => "{0} has the value {1}, which is not a member of {2}; use one of the named values",
        ConfigurationProblem.ScaleTooLarge => "Scale is {0}, so with HeadDim = {1} the scores of inputs up to 65504 in magnitude overflow float and the softmax turns them into NaN; use a Scale of at most {2}",
        _ => throw new ArgumentOutOfRangeException(nameof(problem)),
    };

    /// <summary>Checks a configuration and returns every problem, in property order (empty when it is valid).</summary>
    public static List<ConfigurationIssue> Check(
        int heads, int kvHeads, int headDim, int valueDim,
        AttentionMask mask, MaskAlignment alignment, int windowLeft, int windowRight,
        float scale, float softcap, AttentionLayout layout)
    {
        var issues = new List<ConfigurationIssue>();

        if (heads <= 0 || heads > MaxHeads)
        {
            issues.Add(new(ConfigurationProblem.HeadsNotPositive, "Heads", Format(heads)));
        }
        else if (kvHeads < 0 || (kvHeads != 0 && heads % kvHeads != 0))
        {
            issues.Add(new(ConfigurationProblem.KvHeadsInvalid, "KvHeads", Format(kvHeads), Format(heads)));
        }

        if (headDim < 1 || headDim > MaxDim)
        {
            issues.Add(new(ConfigurationProblem.HeadDimOutOfRange, "HeadDim", Format(headDim)));
        }

        if (valueDim < 0 || valueDim > MaxDim)
        {
            issues.Add(new(ConfigurationProblem.ValueDimOutOfRange, "ValueDim", Format(valueDim)));
        }

        const AttentionMask allMasks = AttentionMask.Causal | AttentionMask.SlidingWindow | AttentionMask.KeyPadding | AttentionMask.Explicit;
        if ((mask & ~allMasks) != 0)
        {
            issues.Add(new(ConfigurationProblem.UnknownEnumValue, "Mask", "Mask", Format((int)mask), "AttentionMask"));
        }

        bool positional = (mask & (AttentionMask.Causal | AttentionMask.SlidingWindow)) != 0;
        if (alignment is not (MaskAlignment.Unspecified or MaskAlignment.TopLeft or MaskAlignment.BottomRight))
        {
            issues.Add(new(ConfigurationProblem.UnknownEnumValue, "Alignment", "Alignment", Format((int)alignment), "MaskAlignment"));
        }
        else if (positional && alignment == MaskAlignment.Unspecified)
        {
            issues.Add(new(ConfigurationProblem.AlignmentRequired, "Mask", PositionalMaskName(mask)));
        }
        else if (!positional && alignment != MaskAlignment.Unspecified)
        {
            issues.Add(new(ConfigurationProblem.AlignmentWithoutPositionalMask, "Alignment", alignment.ToString()));
        }

        CheckWindow("WindowLeft", windowLeft);
        CheckWindow("WindowRight", windowRight);

        if (float.IsNaN(scale) || float.IsInfinity(scale) || scale < 0)
        {
            issues.Add(new(ConfigurationProblem.ScaleInvalid, "Scale", Format(scale)));
        }
        else if (headDim >= 1 && headDim <= MaxDim && scale > MaxScale(headDim))
        {
            issues.Add(new(ConfigurationProblem.ScaleTooLarge, "Scale", Format(scale), Format(headDim), Format(MaxScale(headDim))));
        }

        if (float.IsNaN(softcap) || softcap < 0 || (softcap != 0 && (softcap < MinSoftcap || softcap > MaxSoftcap)))
        {
            issues.Add(new(ConfigurationProblem.SoftcapInvalid, "Softcap", Format(softcap)));
        }

        if (layout is not (AttentionLayout.Bshd or AttentionLayout.Bhsd))
        {
            issues.Add(new(ConfigurationProblem.UnknownEnumValue, "Layout", "Layout", Format((int)layout), "AttentionLayout"));
        }

        return issues;

        void CheckWindow(string property, int size)
        {
            if (size < 0)
            {
                issues.Add(new(ConfigurationProblem.WindowNegative, property, property, Format(size)));
            }
            else if (size != 0 && (mask & AttentionMask.SlidingWindow) == 0)
            {
                issues.Add(new(ConfigurationProblem.WindowWithoutSlidingWindow, property, property));
            }
        }
    }

    /// <summary>
    /// The largest Scale for which no score of inputs up to <see cref="MaxInput"/> in magnitude can overflow:
    /// Scale · HeadDim · MaxInput² at most float's largest value, rounded down.
    /// </summary>
    public static float MaxScale(int headDim)
    {
        double largest = float.MaxValue / ((double)headDim * MaxInput * MaxInput);
        float bound = (float)largest;
        while (bound > largest)
        {
            bound = (float)(bound * (1 - 1e-7)); // rounding went up: step below
        }

        return bound;
    }

    /// <summary>The scale used when <c>Scale</c> is 0: <c>1 / sqrt(headDim)</c>, rounded to float.</summary>
    public static float DefaultScale(int headDim) => (float)(1.0 / Math.Sqrt(headDim));

    private static string PositionalMaskName(AttentionMask mask) =>
        (mask & (AttentionMask.Causal | AttentionMask.SlidingWindow)) switch
        {
            AttentionMask.Causal => "Causal",
            AttentionMask.SlidingWindow => "SlidingWindow",
            _ => "Causal | SlidingWindow",
        };

    private static string Format(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Format(float value) => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
