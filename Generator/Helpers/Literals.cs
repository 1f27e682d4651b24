using System.Globalization;

namespace AttentionGen.Generator.Helpers;

/// <summary>
/// Formats numbers as C# literals, always with the invariant culture: a culture whose minus sign is U+2212 would
/// otherwise write code that does not compile.
/// </summary>
internal static class Literals
{
    /// <summary>An <see cref="int"/> literal.</summary>
    public static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A <see cref="long"/> literal, with the <c>L</c> suffix.</summary>
    public static string Long(long value) => value.ToString(CultureInfo.InvariantCulture) + "L";

    /// <summary>A <see cref="float"/> literal that round-trips, with the <c>f</c> suffix.</summary>
    public static string Float(float value)
    {
        // "R" gives the shortest text that parses back to the same float on .NET Core; older frameworks can fall
        // short of a round trip, and then nine significant digits always suffice.
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        if (float.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture) != value)
        {
            text = value.ToString("G9", CultureInfo.InvariantCulture);
        }

        if (text.IndexOfAny(new[] { '.', 'E', 'e' }) < 0)
        {
            text += ".0";
        }

        return text + "f";
    }
}
