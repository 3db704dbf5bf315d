// One printer per output format (etcdctl's NewPrinter), chosen once per command.
import { FieldsPrinter } from './fields';
import { JsonPrinter } from './json';
import { ProtobufPrinter } from './protobuf';
import { SimplePrinter } from './simple';
import { TablePrinter } from './table';
import type { OutputFormat, Printer, PrintSink } from './printer';

export type { AuthPrint, DbHashKV, DbStatus, EpHashKV, EpHealth, EpStatus, MemberChange, OutputFormat, Printer, PrintSink } from './printer';
export { SimplePrinter } from './simple';

export function newPrinter(format: OutputFormat, sink: PrintSink, hex: boolean): Printer {
  switch (format) {
    case 'simple':
      return new SimplePrinter(sink, hex);
    case 'json':
      return new JsonPrinter(sink);
    case 'fields':
      return new FieldsPrinter(sink);
    case 'table':
      return new TablePrinter(sink);
    case 'protobuf':
      return new ProtobufPrinter(sink);
  }
}
