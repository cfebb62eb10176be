using Hvrt.Sync;

namespace Hvrt.Slots;

internal sealed unsafe partial class Vm
{
    /// <summary>The VM's registered readers; their records are freed with the VM (FreeNative).</summary>
    public ReaderRegistry Readers { get; } = new();
}
