using System;
using System.Diagnostics;
using System.Text;

namespace AttentionGen.Generator.Helpers;

/// <summary>
/// A small indented text writer for generated C#. <see cref="WriteLine(string)"/> re-indents every line of a
/// multi-line string, and <see cref="ToString"/> checks that every block that was opened was closed.
/// </summary>
internal sealed class SourceWriter
{
    private const string IndentUnit = "    ";
    private readonly StringBuilder _builder = new();

    public int Indentation { get; private set; }

    /// <summary>Writes <paramref name="text"/>, each of its lines at the current indentation.</summary>
    public void WriteLine(string text)
    {
        if (text.IndexOf('\n') < 0)
        {
            WriteIndentedLine(text);
            return;
        }

        foreach (string line in text.Replace("\r\n", "\n").Split('\n'))
        {
            WriteIndentedLine(line);
        }
    }

    public void WriteLine() => _builder.Append('\n');

    /// <summary>
    /// Opens a block: writes <paramref name="header"/> (if any) and an opening brace, and indents what follows until the
    /// returned scope is disposed, which writes the closing brace: <c>using (writer.Block("if (x)")) { ... }</c>.
    /// </summary>
    public BlockScope Block(string header)
    {
        OpenBlock(header);
        return new BlockScope(this);
    }

    /// <summary>Writes <paramref name="header"/> (if any) and an opening brace, and indents what follows.</summary>
    private void OpenBlock(string header)
    {
        if (header.Length > 0)
        {
            WriteLine(header);
        }

        WriteLine("{");
        Indentation++;
    }

    /// <summary>Closes the innermost block.</summary>
    private void CloseBlock()
    {
        if (Indentation == 0)
        {
            throw new InvalidOperationException("No block is open.");
        }

        Indentation--;
        WriteLine("}");
    }

    public override string ToString()
    {
        Debug.Assert(Indentation == 0, "Every block that was opened must be closed.");
        if (Indentation != 0)
        {
            throw new InvalidOperationException($"{Indentation} block(s) were left open.");
        }

        return _builder.ToString();
    }

    private void WriteIndentedLine(string line)
    {
        if (line.Length > 0)
        {
            for (int i = 0; i < Indentation; i++)
            {
                _builder.Append(IndentUnit);
            }

            _builder.Append(line);
        }

        _builder.Append('\n');
    }

    /// <summary>An open block of a <see cref="SourceWriter"/>, closed when disposed; <c>default</c> is no block.</summary>
    public readonly struct BlockScope : IDisposable
    {
        private readonly SourceWriter? _writer;

        public BlockScope(SourceWriter writer) => _writer = writer;

        public void Dispose() => _writer?.CloseBlock();
    }
}
