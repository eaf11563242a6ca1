import { TableColumnOptions } from "typeorm";

/** Column shapes shared by the migrations, portable between SQLite and MySQL. */
export const id36 = (name: string, nullable = false): TableColumnOptions => ({ name, type: "varchar", length: "36", isNullable: nullable });
export const str = (name: string, length: number, nullable = false): TableColumnOptions => ({ name, type: "varchar", length: String(length), isNullable: nullable });
export const ts = (name: string, nullable = false): TableColumnOptions => ({ name, type: "datetime", precision: 3, isNullable: nullable });
export const int = (name: string, dflt?: number): TableColumnOptions => ({ name, type: "int", isNullable: false, ...(dflt === undefined ? {} : { default: dflt }) });
export const text = (name: string, nullable = false): TableColumnOptions => ({ name, type: "text", isNullable: nullable });
