using System.Threading;
using Hvrt.Memory;

namespace Hvrt.DirtyLog;

/// <summary>
/// A VM's dirty bitmaps by (as_id, slot id): SlotEntry has no room for a pointer, so markers
/// find a slot's bitmap here. Cells are written only by the writer (under the VM lock) with
/// release stores and read by markers with acquire loads inside a read section; a replaced
/// bitmap is retired (linked through its header, so retiring never allocates) and freed after
/// the writer's next grace period. The cells (8 bytes per possible slot) are allocated on the
/// first logging slot.
/// </summary>
internal sealed unsafe class DirtyTable
{
    private readonly uint _slotsPerAs;
    private readonly uint _cells;
    private nint _table; // DirtyBitmap**, written once (release), freed at destroy
    private DirtyBitmap* _retired;

    public DirtyTable(uint addressSpaces, uint slotsPerAs)
    {
        _slotsPerAs = slotsPerAs;
        _cells = addressSpaces * slotsPerAs;
    }

    /// <summary>Marker side: the bitmap of a slot, or null (acquire loads: the bitmap's contents are visible).</summary>
    public DirtyBitmap* Load(uint slot)
    {
        var t = (DirtyBitmap**)Volatile.Read(ref _table);
        if (t == null)
        {
            return null;
        }
        uint asId = slot >> 16, id = slot & 0xffff;
        return (DirtyBitmap*)Volatile.Read(ref *(nint*)(t + asId * _slotsPerAs + id));
    }

    /// <summary>Writer: the bitmap of a slot, or null.</summary>
    public DirtyBitmap* Get(uint asId, uint id) => _table == 0 ? null : ((DirtyBitmap**)_table)[asId * _slotsPerAs + id];

    /// <summary>Writer: allocates the cells on first use; false when out of memory.</summary>
    public bool EnsureCells()
    {
        if (_table == 0)
        {
            var t = NativeAlloc.Alloc((nuint)_cells * (nuint)sizeof(nint));
            if (t == null)
            {
                return false;
            }
            Volatile.Write(ref _table, (nint)t);
        }
        return true;
    }

    /// <summary>Writer: publishes b (release; may be null) as the slot's bitmap and retires the one it replaces.</summary>
    public void Set(uint asId, uint id, DirtyBitmap* b)
    {
        if (_table == 0)
        {
            return; // no slot has logged yet: nothing to replace (b is null here)
        }
        var cell = (nint*)((DirtyBitmap**)_table + asId * _slotsPerAs + id);
        var old = (DirtyBitmap*)*cell;
        Volatile.Write(ref *cell, (nint)b);
        if (old != null && old != b)
        {
            old->NextRetired = _retired;
            _retired = old;
        }
    }

    /// <summary>Writer, after a grace period that followed every retirement: frees them.</summary>
    public void FreeRetired()
    {
        while (_retired != null)
        {
            DirtyBitmap* next = _retired->NextRetired;
            DirtyBitmap.Free(_retired);
            _retired = next;
        }
    }

    /// <summary>VM destroy: frees every bitmap and the cells (no marker may run any more).</summary>
    public void FreeAll()
    {
        FreeRetired();
        var t = (DirtyBitmap**)_table;
        if (t != null)
        {
            for (uint i = 0; i < _cells; i++)
            {
                DirtyBitmap.Free(t[i]);
            }
            _table = 0;
            NativeAlloc.Free(t, (nuint)_cells * (nuint)sizeof(nint));
        }
    }
}
