"""Reading Markdown tables back in tests: the cells of each row, split on unescaped pipes."""


def table_cells(lines):
    """Cells of each line of a Markdown table (a list of lines), split on unescaped pipes."""
    rows = []
    for line in lines:
        assert line.startswith("| ") and line.endswith(" |"), line
        cells, current, escaped = [], "", False
        for char in line[2:-2]:
            if char == "|" and not escaped:
                cells.append(current.strip())
                current = ""
            else:
                current += char
            escaped = char == "\\"
        cells.append(current.strip())
        rows.append(cells)
    return rows
